"""Generate examples/data/moderation/: a small multi-label content-moderation dataset written for this project.

Comments are composed from sentence templates and a vocabulary: a benign comment is made of benign sentences; a
harmful one of one to three sentences, each carrying some of the labels (an insult, a threat, profanity, hate
against a group, or plain hostility), so that one comment is often toxic, an insult and a threat at once.
Every harmful comment is `toxic`; `benign` is the label of comments with nothing harmful in them. The wording is
kept mild (no slurs, no graphic violence): it is a test and demo dataset.

Deterministic: the same seed writes the same files, byte for byte (`make` regenerates nothing; a test checks it).

    python examples/make_moderation_dataset.py [--output-dir examples/data/moderation]
"""

from __future__ import annotations

import argparse
import csv
import io
import random
import re
from pathlib import Path

LABELS = ("toxic", "insult", "threat", "obscene", "identity_hate", "benign")
SPLIT_SIZES = {"train": 420, "validation": 120, "test": 120}
SEED = 20261125
OUTPUT_DIR = Path(__file__).resolve().parent / "data" / "moderation"

VOCABULARY = {
    "topic": [
        "the new bike lanes",
        "this recipe",
        "the referee's call",
        "the latest software update",
        "your review of the phone",
        "the city council vote",
        "last night's episode",
        "this article",
        "the patch notes",
        "the trail map",
        "the school board meeting",
        "the pizza place on Main Street",
        "the chess tournament",
        "the museum exhibit",
        "the bus schedule change",
        "your garden photos",
        "the camera settings guide",
        "the concert in the park",
        "the new library hours",
        "this podcast episode",
        "the budget proposal",
        "the hiking club newsletter",
        "the bread baking tutorial",
        "the football transfer rumours",
    ],
    "detail": [
        "the second paragraph",
        "the cost estimate",
        "the timeline",
        "the last chart",
        "the battery life numbers",
        "the parking situation",
        "the ingredient list",
        "the opening scene",
        "the survey results",
        "the installation steps",
        "the weekend schedule",
        "the map legend",
    ],
    "praise": [
        "really helpful",
        "well written",
        "clear and useful",
        "a pleasure to read",
        "super informative",
    ],
    "thing": ["write-up", "post", "summary", "guide", "comment", "thread"],
    "place": ["the station", "the park", "work", "the gym", "the market", "the next meetup", "the game"],
    "insult_adjective": [
        "clueless",
        "brainless",
        "pathetic",
        "spineless",
        "useless",
        "dim-witted",
        "arrogant",
        "worthless",
    ],
    "insult_noun": ["idiot", "fool", "clown", "moron", "loser", "troll", "buffoon", "halfwit", "nitwit"],
    "dense": ["dense", "stupid", "thick", "gullible", "ignorant", "dumb"],
    "group": [
        "immigrants",
        "foreigners",
        "people of that religion",
        "people from across the border",
        "newcomers from abroad",
        "people who speak that language",
    ],
    "curse": ["damn", "bloody", "freaking", "goddamn"],
}

#: Sentence templates: the labels a sentence carries, and its wordings ({slot} fills from VOCABULARY).
SENTENCES = {
    "benign": [
        "Thanks for sharing {topic}, it was {praise}.",
        "I agree with most of {topic}, but {detail} could use a source.",
        "Does anyone know when {topic} will be updated?",
        "Good point about {detail}, I had not thought of that.",
        "I tried {topic} yesterday and it worked nicely.",
        "Could you explain {detail} in a bit more detail? I am new to this.",
        "Respectfully, I see {topic} differently, {detail} matters more to me.",
        "This {thing} is {praise}, bookmarking it for later.",
        "Small correction: {detail} changed last year.",
        "I disagree, but I appreciate you taking the time to write up {topic}.",
        "Looking forward to {topic}, see you all at {place}.",
        "My kids loved {topic}, thank you for organising it.",
        "Has anyone compared {topic} with last year's version?",
        "Nice {thing}! {detail} was my favourite part.",
    ],
    "toxic": [
        "{topic} is the dumbest thing I have read all week.",
        "Nobody cares about {topic}, stop posting this garbage.",
        "What a waste of everyone's time.",
        "Shut up already, this whole thread is a joke.",
        "Get lost, nobody asked for your opinion on {topic}.",
        "This {thing} is utter trash, delete it.",
        "Honestly {topic} is worthless and so is this {thing}.",
        "Stop spamming {topic}, it is embarrassing.",
    ],
    "insult": [
        "You are a {insult_adjective} {insult_noun}.",
        "Only a {insult_adjective} {insult_noun} would write a {thing} like this.",
        "Are you really this {dense}, or do you just act like it?",
        "Go away, you {insult_adjective} {insult_noun}.",
        "You're a {insult_noun} and everyone here knows it.",
        "Whoever wrote {detail} is a complete {insult_noun}.",
        "Your brain must be the size of a pea, you {insult_noun}.",
    ],
    "threat": [
        "I know where you live, and you will regret this.",
        "Keep talking and I will make sure you get hurt.",
        "Watch your back next time you are at {place}.",
        "Someone should teach you a lesson you won't forget, and it might be me.",
        "Post that again and I will come and find you.",
        "You had better sleep with one eye open tonight.",
        "I am going to make your life miserable until you quit.",
        "Show your face at {place} and see what happens to you.",
    ],
    "obscene": [
        "What the hell is this crap?",
        "{topic} is a {curse} load of crap.",
        "Screw {topic} and screw this {curse} {thing}.",
        "This is such {curse} bullcrap.",
        "I am so {curse} pissed off about {topic}.",
        "Holy crap, what a {curse} mess.",
    ],
    "identity_hate": [
        "{group} are all the same and do not belong in this country.",
        "Typical of {group}, they ruin every neighbourhood they move into.",
        "I would never hire any of those {group}, they cannot be trusted.",
        "{group} should go back where they came from.",
        "Everything wrong with {topic} is the fault of {group}.",
        "Keep {group} out of our town for good.",
    ],
}

#: Harmful label combinations and how often they are drawn (every one also carries `toxic`).
COMBINATIONS = [
    (("toxic",), 12),
    (("insult",), 14),
    (("threat",), 8),
    (("obscene",), 8),
    (("identity_hate",), 6),
    (("insult", "obscene"), 8),
    (("insult", "threat"), 7),
    (("threat", "obscene"), 4),
    (("identity_hate", "insult"), 4),
    (("insult", "obscene", "threat"), 3),
    (("toxic", "insult"), 4),
]
BENIGN_SHARE = 0.38
OPENERS = ["", "", "", "Re: {topic}. ", "About {topic}: ", "Read the whole thread. ", "Seriously, ", "Ok so "]


def fill(template: str, rng: random.Random) -> str:
    text = template.format(**{slot: rng.choice(words) for slot, words in VOCABULARY.items()})
    text = re.sub(r"\b([Aa]) ([aeiou])", r"\1n \2", text)  # "a arrogant" -> "an arrogant"
    return text[:1].upper() + text[1:]


def make_comment(rng: random.Random) -> tuple[str, tuple[str, ...]]:
    """One comment and its labels (in LABELS order)."""
    if rng.random() < BENIGN_SHARE:
        sentences = [
            fill(template, rng) for template in rng.sample(SENTENCES["benign"], rng.choice((1, 1, 2)))
        ]
        labels = {"benign"}
    else:
        kinds = rng.choices(
            [kinds for kinds, _ in COMBINATIONS], weights=[weight for _, weight in COMBINATIONS]
        )[0]
        sentences = [fill(rng.choice(SENTENCES[kind]), rng) for kind in kinds]
        rng.shuffle(sentences)
        labels = {"toxic", *kinds}
    text = " ".join(sentences)
    if rng.random() < 0.5:
        opener = fill(rng.choice(OPENERS), rng)
        text = opener + (text[:1].lower() + text[1:] if opener.endswith((", ", "so ")) else text)
    if rng.random() < 0.15:
        text = text.lower()
    elif rng.random() < 0.1:
        text = text.rstrip(".") + "!!"
    return text, tuple(label for label in LABELS if label in labels)


def make_splits(seed: int = SEED) -> dict[str, list[tuple[str, tuple[str, ...]]]]:
    """Distinct comments, split train/validation/test (no text appears twice)."""
    rng = random.Random(seed)
    comments: dict[str, tuple[str, ...]] = {}
    while len(comments) < sum(SPLIT_SIZES.values()):
        text, labels = make_comment(rng)
        comments.setdefault(text, labels)
    items = list(comments.items())
    splits, start = {}, 0
    for name, size in SPLIT_SIZES.items():
        splits[name] = items[start : start + size]
        start += size
    return splits


def to_csv(rows: list[tuple[str, tuple[str, ...]]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["text", "labels"])
    writer.writerows([text, "|".join(labels)] for text, labels in rows)
    return buffer.getvalue()


def write_dataset(output_dir: Path = OUTPUT_DIR, seed: int = SEED) -> list[Path]:
    output_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, rows in make_splits(seed).items():
        path = output_dir / f"{name}.csv"
        path.write_text(to_csv(rows), encoding="utf-8")
        written.append(path)
    labels_file = output_dir / "labels.txt"
    labels_file.write_text("\n".join(LABELS) + "\n", encoding="utf-8")
    return [*written, labels_file]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", type=Path, default=OUTPUT_DIR)
    parser.add_argument("--seed", type=int, default=SEED)
    arguments = parser.parse_args()
    for path in write_dataset(arguments.output_dir, arguments.seed):
        print(path)
