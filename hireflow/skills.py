"""The skills hireflow knows: the names it keeps them by, and the ways resumes write them.

Resume reading finds these in a resume's text (``hireflow.resume_intake``); candidate search,
postings and matching compare by the canonical name, so "k8s" on a posting and "Kubernetes"
in a resume are the same skill.
"""

from __future__ import annotations

# Canonical skill -> the ways resumes write it. Matching is case-insensitive, on whole words.
SKILLS: dict[str, tuple[str, ...]] = {
    "python": ("python",),
    "java": ("java",),
    "javascript": ("javascript", "js", "node.js", "nodejs"),
    "typescript": ("typescript",),
    "go": ("golang",),
    "rust": ("rust",),
    "c++": ("c++", "cpp"),
    "c#": ("c#", ".net", "dotnet"),
    "sql": ("sql",),
    "postgresql": ("postgresql", "postgres"),
    "react": ("react", "react.js"),
    "django": ("django",),
    "flask": ("flask",),
    "docker": ("docker",),
    "kubernetes": ("kubernetes", "k8s"),
    "aws": ("aws", "amazon web services"),
    "terraform": ("terraform",),
    "spark": ("spark", "pyspark"),
    "airflow": ("airflow",),
    "kafka": ("kafka",),
    "css": ("css",),
    "bpmn": ("bpmn",),
    "camunda": ("camunda", "zeebe"),
    "machine learning": ("machine learning", "ml"),
    "project management": ("project management",),
    "recruiting": ("recruiting", "recruitment", "talent acquisition"),
}

# Each way of writing a skill, lower case, to the name it is kept by ("k8s" -> "kubernetes").
SKILL_BY_ALIAS = {alias: skill for skill, aliases in SKILLS.items() for alias in (skill, *aliases)}


def canonical_skill(written: str) -> str:
    """The name a skill is kept by, from any way of writing it; an unknown one, trimmed and in lower case."""
    name = written.strip().lower()
    return SKILL_BY_ALIAS.get(name, name)
