"""Score a candidate against a job posting, explainably: which skills matched, which are missing.

The score is 0-100. Routing on it (auto-forward, auto-decline, recruiter screening) is
decided by the DMN decision ``application-routing`` in ``bpmn/``, so analysts change the
thresholds without touching code.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hireflow.skills import canonical_skill

REQUIRED_WEIGHT = 70
NICE_TO_HAVE_WEIGHT = 20
EXPERIENCE_WEIGHT = 10


@dataclass(frozen=True)
class Requirements:
    """What a job posting asks for."""

    required_skills: list[str] = field(default_factory=list)
    nice_to_have_skills: list[str] = field(default_factory=list)
    min_years: int = 0


@dataclass(frozen=True)
class MatchResult:
    """The score and the facts behind it, small enough for process variables and forms."""

    score: int
    matched_skills: list[str]
    missing_skills: list[str]
    matched_nice_to_have: list[str]
    meets_experience: bool

    def as_variables(self) -> dict:
        return {
            "match_score": self.score,
            "matched_skills": self.matched_skills,
            "missing_skills": self.missing_skills,
            "meets_experience": self.meets_experience,
        }


def _normalise(skills: list[str]) -> list[str]:
    # By the names skills are kept by: a posting's "k8s" is a resume's "Kubernetes".
    return list(dict.fromkeys(canonical_skill(s) for s in skills if s.strip()))


def asked_skills(requirements: Requirements) -> tuple[list[str], list[str]]:
    """The required and the nice-to-have skills a posting asks for, by the names skills are
    kept by, each once: what ``score_match`` counts."""
    return _normalise(requirements.required_skills), _normalise(requirements.nice_to_have_skills)


def weighted_score(
    required_matched: int, required_count: int, nice_matched: int, nice_count: int, meets_experience: bool
) -> int:
    """The 0-100 score from how many of each kind of skill matched: ``score_match``'s sum, for
    callers that count matches without the lists (a database query)."""
    score = (
        REQUIRED_WEIGHT * (required_matched / required_count if required_count else 1)
        + NICE_TO_HAVE_WEIGHT * (nice_matched / nice_count if nice_count else 1)
        + EXPERIENCE_WEIGHT * meets_experience
    )
    return round(score)


def score_match(
    skills: list[str], years_of_experience: int | None, requirements: Requirements
) -> MatchResult:
    """Weighted coverage: required skills 70, nice-to-have 20, experience 10.

    A part the posting does not ask for counts as fully met.
    """
    have = set(_normalise(skills))
    required, nice = asked_skills(requirements)
    matched = [s for s in required if s in have]
    matched_nice = [s for s in nice if s in have]
    meets_experience = (years_of_experience or 0) >= requirements.min_years
    return MatchResult(
        score=weighted_score(len(matched), len(required), len(matched_nice), len(nice), meets_experience),
        matched_skills=matched,
        missing_skills=[s for s in required if s not in have],
        matched_nice_to_have=matched_nice,
        meets_experience=meets_experience,
    )
