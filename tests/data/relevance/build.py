"""Build a labeled set's Guardian-format pages and labels.csv from its ``items.txt``.

For the sets written as text (``wide/`` and ``blind/`` … ``blind7/``): ``items.txt`` is the one
source (one line per (symbol, item): symbol, split, about, section, time, type, title, trail, note); this
writes ``<SYMBOL>.json`` — a ``/search`` response in the real format, as a broad search for the
company's common name would return it without a section filter, each result with the Guardian's own
section name and pillar (Opinion, Arts, Sport, Lifestyle, News) where known — and ``labels.csv``.
Run it after editing a set's ``items.txt``: ``python3 tests/data/relevance/build.py FOLDER``.
"""

from __future__ import annotations

import csv
import json
import re
import sys
from pathlib import Path

MONTHS = "jan feb mar apr may jun jul aug sep oct nov dec".split()
SECTION_NAMES = {
    "us-news": "US news", "uk-news": "UK news", "australia-news": "Australia news", "tv-and-radio": "Television & radio",
    "lifeandstyle": "Life and style", "commentisfree": "Opinion", "artanddesign": "Art and design",
}
PILLARS = {
    "commentisfree": "Opinion",
    **dict.fromkeys(["film", "tv-and-radio", "music", "books", "stage", "artanddesign", "culture", "games"], "Arts"),
    **dict.fromkeys(["sport", "football"], "Sport"),
    **dict.fromkeys(["lifeandstyle", "food", "travel", "fashion", "money"], "Lifestyle"),
}


def slug(title: str) -> str:
    words = re.sub(r"[^a-z0-9 ]+", "", title.lower().replace("'", "")).split()
    return "-".join(words[:9])


def item_id(section: str, published: str, title: str, kind: str) -> str:
    year, month, day = published[:4], MONTHS[int(published[5:7]) - 1], published[8:10]
    live = "live/" if kind == "liveblog" else ""
    return f"{section}/{live}{year}/{month}/{day}/{slug(title)}"


def rows(folder: Path) -> list[dict]:
    out = []
    for line in (folder / "items.txt").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        symbol, split, about, section, published, kind, title, trail, note = [p.strip() for p in line.split(" | ")]
        out.append(dict(symbol=symbol, split=split, about=about, section=section, published=published, type=kind,
                        title=title, trail=trail, note=note, id=item_id(section, published, title, kind)))
    return out


def result(row: dict) -> dict:
    section = row["section"]
    pillar = PILLARS.get(section, "News")
    return {
        "id": row["id"], "type": row["type"], "sectionId": section,
        "sectionName": SECTION_NAMES.get(section, section.replace("-", " ").capitalize()),
        "webPublicationDate": row["published"], "webTitle": row["title"],
        "webUrl": f"https://www.theguardian.com/{row['id']}", "apiUrl": f"https://content.guardianapis.com/{row['id']}",
        "fields": {"trailText": row["trail"]}, "isHosted": False, "pillarId": f"pillar/{pillar.lower()}", "pillarName": pillar,
    }


def build(folder: Path) -> None:
    all_rows = rows(folder)
    for symbol in dict.fromkeys(r["symbol"] for r in all_rows):
        mine = sorted((r for r in all_rows if r["symbol"] == symbol), key=lambda r: r["published"], reverse=True)
        page = {"response": {"status": "ok", "userTier": "developer", "total": len(mine), "startIndex": 1,
                             "pageSize": 50, "currentPage": 1, "pages": 1, "orderBy": "newest",
                             "results": [result(r) for r in mine]}}
        (folder / f"{symbol}.json").write_text(json.dumps(page, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    with open(folder / "labels.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["symbol", "id", "about", "split", "note"])
        for r in all_rows:
            writer.writerow([r["symbol"], r["id"], r["about"], r["split"], r["note"]])


if __name__ == "__main__":
    build(Path(__file__).resolve().parent / sys.argv[1])
