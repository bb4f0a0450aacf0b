"""Keywords of the tracked videos, and how each keyword performs.

Per video (language 'en' or 'zh'; a regional form such as 'zh-CN' counts as its base):
- text candidates from the title and the description: English scored by YAKE (up to
  2-word phrases; YAKE's score is lower-is-better), Chinese segmented by jieba and scored by
  its TF-IDF (higher-is-better); each candidate's text score is normalised so the video's
  best one is 1 (English: best_yake / yake, Chinese: tfidf / best_tfidf);
- the tags always count as candidates: each adds TAG_BONUS to its keyword's score (a tag
  the text also yields gets both);
- keywords are lower-cased with whitespace collapsed; stop words are removed (YAKE's
  English list plus a few words every video description has, and a Chinese list, applied
  to both languages since Chinese text mixes in English); a keyword needs a letter or a CJK
  character and at least 2 characters (so no 1-character Chinese word);
- the top K by score (ties by keyword) are stored with rank 1..K.

Videos of another language are skipped and counted. The day's per-keyword performance is
computed in SQL afterwards (include/videos/repository/keywords.py update_performance).
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterator
from datetime import date

import psycopg

from include.common.time_budget import TimeBudget, run_batches
from include.videos.repository import keywords as repo
from include.videos.repository.keywords import VideoText

log = logging.getLogger(__name__)

TAG_BONUS = 0.5
YAKE_MAX_WORDS = 2
CANDIDATES = 30  # text candidates considered per video before the top K
MIN_CHARS = 2  # Chinese keywords need 2+ characters; a 1-letter English word is noise too
LANGUAGES = ("en", "zh")

# Words every video description has, which say nothing about its subject.
EN_DOMAIN_STOP_WORDS = frozenset("""
    video videos channel subscribe subscribed subscribers watch watching like likes comment comments
    share click link links please thanks thank follow episode
""".split())

# Common Chinese function words and fillers of 2+ characters (single characters never
# qualify as keywords), and the platform words of video descriptions.
ZH_STOP_WORDS = frozenset("""
    我们 你们 他们 她们 它们 咱们 大家 自己 这个 那个 这些 那些 这样 那样 这里 那里 这么 那么
    什么 怎么 怎样 为什么 如何 哪里 哪个 一个 一些 一下 一点 一起 一直 一样 一定 已经 还是 就是
    但是 可是 而且 因为 所以 如果 虽然 然后 或者 还有 不是 没有 可以 可能 应该 需要 知道 觉得
    真的 非常 特别 比较 有点 其实 只是 只有 这种 那种 今天 明天 昨天 现在 时候 之后 之前 以后
    以前 同时 最后 首先 其中 以及 对于 关于 通过 进行 我的 你的 他的 她的 的话 起来 出来 一般
    视频 频道 订阅 点赞 关注 评论 转发 分享 收藏 喜欢 谢谢 感谢 欢迎 链接
""".split())

_SPACES = re.compile(r"\s+")
_EDGE_PUNCT = re.compile(r"^[\W_]+|[\W_]+$")


def base_language(language: str) -> str | None:
    """'en' or 'zh' for a supported language code (case and region ignored), else None."""
    base = language.strip().lower().replace("_", "-").split("-")[0]
    return base if base in LANGUAGES else None


def normalise(keyword: str) -> str:
    return _EDGE_PUNCT.sub("", _SPACES.sub(" ", keyword.strip().lstrip("#")).lower())


@functools.cache
def en_stop_words() -> frozenset[str]:
    import yake

    return frozenset(yake.KeywordExtractor(lan="en").stopword_set) | EN_DOMAIN_STOP_WORDS


@functools.cache
def _yake():
    import yake

    return yake.KeywordExtractor(lan="en", n=YAKE_MAX_WORDS, dedup_lim=0.9, top=CANDIDATES,
                                 stopwords=set(en_stop_words()))


@functools.cache
def _jieba_tfidf():
    """jieba's TF-IDF extractor, initialised once per process without its log lines (it
    prints "Building prefix dict ..." at INFO level), with our stop words. The stop words
    are added to jieba's dictionary as well, so that it cuts them out whole ("请点赞订阅"
    would otherwise give the candidate "请点")."""
    import jieba
    import jieba.analyse

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    for word in sorted(ZH_STOP_WORDS):  # sorted: the same dictionary state in every process
        jieba.add_word(word)
    extractor = jieba.analyse.TFIDF()
    extractor.stop_words = set(ZH_STOP_WORDS) | set(en_stop_words())
    return extractor


def _acceptable(keyword: str, language: str) -> bool:
    if not keyword or not any(ch.isalpha() for ch in keyword):
        return False
    if keyword in ZH_STOP_WORDS or keyword in en_stop_words():
        return False
    return len(keyword) >= MIN_CHARS


def english_text_scores(text: str) -> dict[str, float]:
    """YAKE candidates of `text`, normalised: best_score / score (the best is 1)."""
    found: dict[str, float] = {}
    for phrase, score in _yake().extract_keywords(text) if text.strip() else []:
        keyword = normalise(phrase)
        if _acceptable(keyword, "en") and score > 0:
            found[keyword] = min(found.get(keyword, float("inf")), float(score))
    if not found:
        return {}
    best = min(found.values())
    return {k: best / s for k, s in found.items()}


def chinese_text_scores(text: str) -> dict[str, float]:
    """jieba TF-IDF candidates of `text`, normalised: weight / best_weight."""
    found: dict[str, float] = {}
    for word, weight in _jieba_tfidf().extract_tags(text, topK=None, withWeight=True) if text.strip() else []:
        keyword = normalise(word)
        if _acceptable(keyword, "zh") and weight > 0:
            found[keyword] = max(found.get(keyword, 0.0), float(weight))
    if not found:
        return {}
    best = max(found.values())
    return {k: w / best for k, w in found.items()}


def video_keywords(video: VideoText, top_k: int) -> list[tuple[str, float]]:
    """The video's top `top_k` (keyword, score), best first (ties by keyword)."""
    language = base_language(video.language)
    if language is None:
        raise ValueError(f"video {video.id}: unsupported language {video.language!r}")
    text = f"{video.title.strip()}.\n{video.description.strip()}"
    scores = english_text_scores(text) if language == "en" else chinese_text_scores(text)
    for tag in {normalise(tag) for tag in video.tags}:
        if _acceptable(tag, language):
            scores[tag] = scores.get(tag, 0.0) + TAG_BONUS
    ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
    return ranked[:top_k]


def _batches(conn: psycopg.Connection, day: date, size: int) -> Iterator[list[VideoText]]:
    after = 0
    while batch := repo.next_videos(conn, day, after, size):
        conn.commit()  # end the read's transaction: no snapshot held between batches
        after = batch[-1].id
        yield batch


def analyse_keywords(conn: psycopg.Connection, day: date, *, top_k: int = 10, budget: TimeBudget | None = None,
                     batch_size: int = 500) -> dict:
    """Store the top `top_k` keywords of every `success` video not yet analysed for `day`
    (batches of `batch_size` videos, each deleted and inserted in one transaction), then
    the day's keyword performance. Stops cleanly between batches when `budget` runs low
    (SoftTimeLimitExceeded; a rerun continues with the videos left). Returns the receipt."""
    if not 1 <= top_k <= 100:
        raise ValueError(f"top_k must be between 1 and 100, got {top_k!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")

    def process(batch: list[VideoText]) -> dict:
        rows: list[tuple[int, str, float, int]] = []
        analysed: list[int] = []
        skipped: list[int] = []
        for video in batch:
            if base_language(video.language) is None:
                skipped.append(video.id)
                continue
            analysed.append(video.id)
            rows += [(video.id, k, s, rank) for rank, (k, s) in enumerate(video_keywords(video, top_k), 1)]
        if skipped:
            log.warning("skipped videos of an unsupported language: %s", skipped)
        _, inserted = repo.replace_keywords(conn, day, analysed, rows)
        conn.commit()
        return {"videos": len(analysed), "skipped_language": len(skipped), "keywords_inserted": inserted,
                "batches": 1}

    result = {"computed_for": day.isoformat(), "top_k": top_k, "batches": 0, "videos": 0, "skipped_language": 0,
              "keywords_inserted": 0}
    run_batches((process(batch) for batch in _batches(conn, day, batch_size)), budget, result=result, margin=5.0)
    keywords, written, removed = repo.update_performance(conn, day)
    conn.commit()
    return {**result, "performance_keywords": keywords, "performance_written": written,
            "performance_deleted": removed}
