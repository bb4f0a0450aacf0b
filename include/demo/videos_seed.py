"""Videos demo data (seed 000's creator analytics): creators posting in English and Chinese,
their videos (cooking, travel, tech, fitness; titles, descriptions and tags), 180 days of
daily statistics, and the demo AdSense account's earnings.

The statistics and earnings come from include/demo/videos_stats.py, the generator the
sandbox's YouTube Analytics and AdSense stand-ins serve, so the hourly and daily syncs
against the sandbox confirm the seeded days instead of rewriting them. History ends
yesterday (UTC); seeding twice on one day gives the same database. Demo creators are those
with an `@demo.videos.jobyard.local` email: seeding deletes them (their videos and stats go
with them) and the demo account's earnings first.
"""

from __future__ import annotations

import base64
import hashlib
import random
from datetime import UTC, date, datetime, time, timedelta

import psycopg
from psycopg.types.json import Jsonb

from include.demo import videos_stats as demo_stats
from include.videos.repository import analytics_sync as stats_repository

EMAIL_DOMAIN = "demo.videos.jobyard.local"
ADSENSE_ACCOUNT = "accounts/pub-7052138940016523"  # the dev `adsense_api` connection's account_id
HISTORY_DAYS = 180
CREATORS_PER_SCALE = 8
VIDEOS_PER_CREATOR = 6
# Not every tracked video is ready: the downloader's other states get no stats.
OTHER_STATUS = {9: "failed", 13: "pending", 17: "downloading"}

CREATORS = {  # (name, email slug, category)
    "en": [("Maya's Kitchen", "mayaskitchen", "cooking"), ("Wanderlust Leo", "wanderlustleo", "travel"),
           ("TechWithTom", "techwithtom", "tech"), ("Fit with Ana", "fitwithana", "fitness")],
    "zh": [("小美的厨房", "xiaomei", "cooking"), ("阿杰去旅行", "ajie", "travel"),
           ("数码老王", "laowang", "tech"), ("跟练小鹿", "xiaolu", "fitness")],
}
TOPICS = {
    "en": {
        "cooking": ["Ramen", "Sourdough Bread", "Pad Thai", "Dumplings", "Tiramisu", "Butter Chicken"],
        "travel": ["Kyoto", "Lisbon", "Chengdu", "Reykjavik", "Mexico City", "Istanbul"],
        "tech": ["Pixel 10", "iPhone 17", "Framework Laptop", "Steam Deck 2", "Kindle Scribe", "Sony WH-1000XM6"],
        "fitness": ["Full Body", "Core", "HIIT", "Mobility", "Kettlebell", "Stretching"],
    },
    "zh": {
        "cooking": ["红烧肉", "麻婆豆腐", "小笼包", "酸菜鱼", "番茄炒蛋", "葱油拌面"],
        "travel": ["成都", "西安", "厦门", "大理", "重庆", "杭州"],
        "tech": ["小米15", "华为Mate 70", "iPad Pro", "大疆Pocket 3", "Kindle", "AirPods Pro"],
        "fitness": ["全身燃脂", "核心训练", "帕梅拉跟练", "瑜伽拉伸", "居家有氧", "臀腿训练"],
    },
}
TITLES = {  # (template, the numbers {n} can be)
    "en": {
        "cooking": [("How to Make Perfect {t} at Home", (0,)), ("{t} in {n} Minutes: Easy Weeknight Dinner", (20, 30)),
                    ("I Tried {n} Viral {t} Recipes So You Don't Have To", (3, 5, 7))],
        "travel": [("{n} Days in {t}: The Complete Travel Guide", (3, 5, 7)),
                   ("{t} on a Budget: What I Really Spent", (0,)), ("Hidden Gems of {t} Only Locals Know", (0,))],
        "tech": [("{t} Review: Worth It in 2026?", (0,)), ("{t} After {n} Months: The Honest Truth", (3, 6)),
                 ("{n} Hidden Features of the {t}", (5, 7, 10))],
        "fitness": [("{n}-Minute {t} Workout, No Equipment", (10, 15, 20, 30)),
                    ("My {n}-Week {t} Transformation", (4, 8, 12)), ("{t} for Beginners: Follow Along", (0,))],
    },
    "zh": {
        "cooking": [("在家做{t}，零失败教程", (0,)), ("{n}分钟搞定{t}｜快手家常菜", (10, 15, 20)),
                    ("挑战{n}种网红{t}做法，哪个最好吃？", (3, 5))],
        "travel": [("{t}{n}天旅行攻略｜必去景点全收录", (3, 4, 5)), ("穷游{t}：{n}天到底花了多少钱？", (3, 5)),
                   ("本地人才知道的{t}小众景点", (0,))],
        "tech": [("{t}深度评测：值不值得买？", (0,)), ("{t}用了{n}个月，说说真实感受", (3, 6)),
                 ("{t}的{n}个隐藏功能，你都知道吗", (5, 8, 10))],
        "fitness": [("{n}分钟{t}，在家就能练", (10, 15, 20)), ("坚持{t}{n}周，我的身体变化", (4, 8)),
                    ("新手也能跟上的{t}", (0,))],
    },
}
DESCRIPTIONS = {
    "en": ("In this video: {title}. Everything you need to know, step by step, with my honest take at the "
           "end. New {category} videos every week, subscribe so you don't miss the next one!"),
    "zh": "这期视频：{title}。从准备到上手，一步一步讲清楚，最后说说我的真实感受。喜欢的话记得点赞、收藏、关注！",
}
TAGS = {
    "en": {"cooking": ["cooking", "recipe", "food", "easy recipes"], "travel": ["travel", "travel guide", "vlog"],
           "tech": ["tech", "review", "gadgets", "unboxing"], "fitness": ["fitness", "workout", "home workout"]},
    "zh": {"cooking": ["美食", "家常菜", "做饭教程"], "travel": ["旅行", "旅游攻略", "vlog"],
           "tech": ["数码", "评测", "开箱"], "fitness": ["健身", "减脂", "居家锻炼"]},
}


def _channel_id(key: str) -> str:
    return "UC" + base64.urlsafe_b64encode(hashlib.sha256(key.encode()).digest()).decode()[:22]


def _catalogue(scale: int, end: date) -> tuple[list[tuple], list[dict]]:
    """(creators, videos) of the demo: plain rows, deterministic for (scale, end)."""
    rng = random.Random(f"videos-demo-{scale}")
    creators, videos = [], []
    earliest = max(demo_stats.PUBLISH_FROM, end - timedelta(days=540))
    for n in range(CREATORS_PER_SCALE * scale):
        language = "en" if n % 2 == 0 else "zh"
        name, slug, category = CREATORS[language][n // 2 % 4]
        copy = n // CREATORS_PER_SCALE
        suffix = f" {copy + 1}" if copy else ""
        creators.append((name + suffix, f"{slug}{copy or ''}@{EMAIL_DOMAIN}", _channel_id(f"{slug}-{copy}"), language))
        topics = rng.sample(TOPICS[language][category], VIDEOS_PER_CREATOR)  # one video per topic
        for k, topic in enumerate(topics):
            index = len(videos)
            template, numbers = rng.choice(TITLES[language][category])
            title = template.format(t=topic, n=rng.choice(numbers))
            # Most videos have the full history; a few are recent launches.
            published = (earliest, end - timedelta(days=HISTORY_DAYS)) if index % 10 < 7 else \
                        (end - timedelta(days=HISTORY_DAYS - 1), end - timedelta(days=3))
            videos.append({
                "creator": n,
                "platform_id": demo_stats.draw_video_id(f"demo-{n}-{k}-{end}", published),
                "title": title,
                "description": DESCRIPTIONS[language].format(title=title, category=category),
                "tags": TAGS[language][category] + [topic.lower() if language == "en" else topic],
                "language": language,
                "status": next((s for m, s in OTHER_STATUS.items() if index % m == m - 1), "success"),
                "hour": rng.randrange(24),
            })
    return creators, videos


def _stat_rows(videos: list[tuple[int, str]], end: date):
    first = end - timedelta(days=HISTORY_DAYS - 1)
    for video_id, platform_id in videos:
        day = max(first, demo_stats.published_on(platform_id))
        while day <= end:
            yield (video_id, day, *demo_stats.daily_stats(platform_id, day))
            day += timedelta(days=1)


def seed(conn: psycopg.Connection, scale: int, *, today: date | None = None) -> dict[str, int]:
    end = (today or datetime.now(UTC).date()) - timedelta(days=1)
    conn.execute("DELETE FROM videos.creators WHERE email LIKE %s", (f"%@{EMAIL_DOMAIN}",))
    conn.execute("DELETE FROM videos.adsense_earnings WHERE account_id = %s", (ADSENSE_ACCOUNT,))
    creators, videos = _catalogue(scale, end)
    by_email = dict(conn.execute(
        """INSERT INTO videos.creators (name, email, channel_id, language)
           SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[])
           RETURNING email, id""",
        [list(column) for column in zip(*creators, strict=True)]).fetchall())
    creator_ids = [by_email[c[1]] for c in creators]
    published = [datetime.combine(demo_stats.published_on(v["platform_id"]), time(v["hour"]), tzinfo=UTC)
                 for v in videos]
    rows = conn.execute(
        """INSERT INTO videos.videos (creator_id, platform_id, title, description, tags, language, status,
                                      published_at)
           SELECT v.creator_id, v.platform_id, v.title, v.description,
                  ARRAY(SELECT jsonb_array_elements_text(v.tags)), v.language, v.status, v.published_at
             FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[], %s::jsonb[], %s::text[], %s::text[],
                         %s::timestamptz[])
                  AS v(creator_id, platform_id, title, description, tags, language, status, published_at)
           RETURNING id, platform_id, status""",
        ([creator_ids[v["creator"]] for v in videos], [v["platform_id"] for v in videos],
         [v["title"] for v in videos], [v["description"] for v in videos],
         [Jsonb(v["tags"]) for v in videos], [v["language"] for v in videos],
         [v["status"] for v in videos], published)).fetchall()

    stats_repository.create_stage(conn)
    stats_repository.stage_rows(conn, _stat_rows([(vid, pid) for vid, pid, s in rows if s == "success"], end))
    stats_inserted, _ = stats_repository.merge_stage(conn)

    days = [end - timedelta(days=n) for n in range(HISTORY_DAYS)]
    figures = [demo_stats.adsense_day(ADSENSE_ACCOUNT, d) for d in days]
    earnings = conn.execute(
        """INSERT INTO videos.adsense_earnings (account_id, day, estimated_earnings, page_views, clicks, currency)
           SELECT %s, d, e, p, c, 'USD' FROM unnest(%s::date[], %s::numeric[], %s::bigint[], %s::bigint[])
                  AS r(d, e, p, c)""",
        (ADSENSE_ACCOUNT, days, [f.estimated_earnings for f in figures], [f.page_views for f in figures],
         [f.clicks for f in figures])).rowcount
    return {"creators": len(creator_ids), "videos": len(rows), "daily_stats": stats_inserted,
            "adsense_earnings": earnings}
