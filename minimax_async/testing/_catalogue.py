"""The fake server's vocabularies (GET audio/config) and its generated system-voice catalogue."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence

__all__ = [
    "ACCENTS",
    "AGES",
    "EMOTIONS",
    "GENDERS",
    "LANGUAGES",
    "SystemCatalogue",
    "build_config",
]

# Contract §4.1/§4.2: the vocabularies GET audio/config answers.
EMOTIONS: tuple[str, ...] = (
    "happy",
    "sad",
    "angry",
    "fearful",
    "disgusted",
    "surprised",
    "neutral",
)
LANGUAGES: tuple[str, ...] = (
    "English",
    "Chinese",
    "Japanese",
    "Korean",
    "French",
    "German",
    "Spanish",
    "Portuguese",
    "Italian",
    "Arabic",
    "Russian",
    "Turkish",
    "Dutch",
    "Ukrainian",
    "Vietnamese",
    "Indonesian",
)
AGES: tuple[str, ...] = ("Young Adult", "Adult", "Middle-Aged", "Senior")
GENDERS: tuple[str, ...] = ("Male", "Female")
# (language, tag_name) pairs of voice_tag_accent.
ACCENTS: tuple[tuple[str, str], ...] = (
    ("English", "US (General)"),
    ("English", "English"),
    ("English", "Indian"),
)

_NAME_ADJECTIVES = (
    "Calm",
    "Diligent",
    "Gentle",
    "Bright",
    "Wise",
    "Cheerful",
    "Deep",
    "Soft",
    "Warm",
    "Crisp",
    "Friendly",
    "Serious",
    "Lively",
    "Elegant",
    "Confident",
    "Patient",
    "Graceful",
    "Steady",
    "Playful",
    "Radiant",
)
_NAME_NOUNS = (
    "Leader",
    "Woman",
    "Man",
    "Narrator",
    "Teacher",
    "Girl",
    "Boy",
    "Storyteller",
    "Host",
    "Announcer",
    "Friend",
    "Doctor",
    "Captain",
    "Poet",
    "Anchor",
    "Guide",
)
_FIRST_SYSTEM_VOICE_ID = 209_500_000_000_000
_FIRST_SYSTEM_CREATE_TIME_MS = 1_732_711_650_948
_PAGE_CACHE_SIZE = 1024
CDN = "https://cdn.fake.minimax"


def build_config() -> dict[str, object]:
    """Return the GET audio/config answer (contract §4.1) built from the vocabularies.

    Returns:
        The config object: ``t2a_emotion``, ``voice_tag_accent``, ``voice_tag_age``,
        ``voice_tag_gender`` and ``voice_tag_language``.
    """
    return {
        "t2a_emotion": [{"label": value.capitalize(), "value": value} for value in EMOTIONS],
        "voice_tag_accent": [{"language": language, "tag_name": tag} for language, tag in ACCENTS],
        "voice_tag_age": [{"tag_name": tag} for tag in AGES],
        "voice_tag_gender": [{"tag_name": tag} for tag in GENDERS],
        "voice_tag_language": [{"tag_name": tag} for tag in LANGUAGES],
    }


class SystemCatalogue:
    """A seeded, immutable list of system voices with a tag index and cached pages.

    Args:
        count: Number of voices to generate.
        seed: Seed of the generator, so that two servers with one seed agree.
    """

    def __init__(self, count: int, seed: int) -> None:
        rng = random.Random(seed)
        voices: list[dict[str, object]] = []
        by_tag: dict[str, list[int]] = {}
        tag_sets: list[frozenset[str]] = []
        taken_uniq: set[str] = set()
        voice_id = _FIRST_SYSTEM_VOICE_ID
        english_accents = [tag for language, tag in ACCENTS if language == "English"]
        for index in range(count):
            voice_id += rng.randrange(1_000, 100_000)
            language = rng.choice(LANGUAGES)
            tags = [language, rng.choice(GENDERS), rng.choice(AGES)]
            if language == "English":
                tags.append(rng.choice(english_accents))
            adjective, noun = rng.choice(_NAME_ADJECTIVES), rng.choice(_NAME_NOUNS)
            uniq = f"{language}_{adjective}{noun}"
            suffix = 2
            while uniq in taken_uniq:
                uniq = f"{language}_{adjective}{noun}{suffix}"
                suffix += 1
            taken_uniq.add(uniq)
            created = _FIRST_SYSTEM_CREATE_TIME_MS + index * 60_000 + rng.randrange(60_000)
            vid = str(voice_id)
            voices.append(
                {
                    "voice_id": vid,
                    "parent_voice_id": "0",
                    "voice_name": f"{adjective} {noun}",
                    "tag_list": tags,
                    "file_id": "",
                    "cover_url": f"{CDN}/voice_cover/{vid}.png",
                    "create_time": created,
                    "update_time": created,
                    "collected": False,
                    "voice_status": 2,
                    "sample_audio": f"{CDN}/voice_sample_audio/{vid}.mp3",
                    "uniq_id": uniq,
                    "group_id": "0",
                }
            )
            tag_sets.append(frozenset(tags))
            for tag in tag_sets[-1]:
                by_tag.setdefault(tag, []).append(index)
        self.voices: tuple[dict[str, object], ...] = tuple(voices)
        self.by_id: dict[str, dict[str, object]] = {str(v["voice_id"]): v for v in voices}
        self._tag_sets = tuple(tag_sets)
        self._by_tag = by_tag
        self._matching: dict[tuple[str, ...], list[dict[str, object]]] = {}
        self._pages: dict[tuple[tuple[str, ...], int, int], bytes] = {}

    def matching(self, tags: Sequence[str]) -> list[dict[str, object]]:
        """Return the voices that carry every tag in ``tags`` (all voices when empty).

        Args:
            tags: Tag names, compared exactly.

        Returns:
            The matching voices in catalogue order; the list is cached, do not mutate it.
        """
        key = tuple(sorted(set(tags)))
        found = self._matching.get(key)
        if found is not None:
            return found
        if not key:
            found = list(self.voices)
        else:
            postings = [self._by_tag.get(tag, []) for tag in key]
            shortest = min(postings, key=len)
            wanted = frozenset(key)
            found = [self.voices[i] for i in shortest if wanted <= self._tag_sets[i]]
        if len(self._matching) >= _PAGE_CACHE_SIZE:
            self._matching.clear()
        self._matching[key] = found
        return found

    def page_body(self, tags: Sequence[str], page: int, page_size: int) -> bytes:
        """Return the encoded GET audio/voices answer for one page of system voices.

        Args:
            tags: The ``tag_list`` filter.
            page: Page number, starting at 1.
            page_size: Voices per page.

        Returns:
            JSON bytes of ``{"voice_list": [...], "total": N, "has_more": bool}``.
        """
        key = (tuple(sorted(set(tags))), page, page_size)
        body = self._pages.get(key)
        if body is None:
            found = self.matching(tags)
            start = (page - 1) * page_size
            body = json.dumps(
                {
                    "voice_list": found[start : start + page_size],
                    "total": len(found),
                    "has_more": start + page_size < len(found),
                },
                separators=(",", ":"),
            ).encode()
            if len(self._pages) >= _PAGE_CACHE_SIZE:
                self._pages.clear()
            self._pages[key] = body
        return body
