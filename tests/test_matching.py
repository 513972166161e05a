"""Matching a resume to a posting, and why it scored as it did."""

from __future__ import annotations

from hireflow.matching import Requirements, score_match

POSTING = Requirements(
    required_skills=["Python", "SQL", "Docker", "AWS"], nice_to_have_skills=["Camunda"], min_years=5
)


def test_a_full_match_scores_100_and_lists_what_matched():
    result = score_match(["python", "sql", "docker", "aws", "camunda"], 8, POSTING)
    assert result.score == 100
    assert result.matched_skills == ["python", "sql", "docker", "aws"]
    assert result.missing_skills == []


def test_the_score_explains_what_is_missing():
    result = score_match(["python", "sql"], 3, POSTING)
    assert result.score == 35  # 70 * 2/4, no nice-to-have, too little experience
    assert result.missing_skills == ["docker", "aws"]
    assert not result.meets_experience


def test_skill_names_match_regardless_of_case_and_repeats():
    result = score_match(["PYTHON", "python", " Sql "], None, Requirements(required_skills=["python", "sql"]))
    assert (result.score, result.matched_skills) == (100, ["python", "sql"])


def test_a_skill_written_another_way_is_the_same_skill():
    # A posting saved before its skills were checked may say "k8s" where the resume said Kubernetes.
    asks = Requirements(required_skills=["K8s", "postgres"], nice_to_have_skills=["JS"])
    result = score_match(["kubernetes", "postgresql", "javascript"], None, asks)
    assert (result.score, result.matched_skills) == (100, ["kubernetes", "postgresql"])


def test_a_posting_with_no_requirements_matches_everyone():
    assert score_match([], None, Requirements()).score == 100


def test_variables_stay_small_and_named_like_the_process_variables():
    variables = score_match(["python"], 6, POSTING).as_variables()
    assert set(variables) == {"match_score", "matched_skills", "missing_skills", "meets_experience"}
