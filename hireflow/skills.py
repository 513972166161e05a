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
    # Added 2026-12-07, after the first 26. A word with another meaning in resumes (an
    # everyday word, a person's or a place's name, a word of another language) is known only
    # by the tool's full name ("spring boot", "microsoft excel", "express.js", "apache
    # cassandra"), or not at all: "excel at", "a swift reply", "Sarah Jenkins", "Cypress,
    # CA" and "tableau de bord" name no skill. R, Swift, Ruby, Helm, Jenkins, Cypress,
    # Selenium, Tableau and Playwright are left out for that reason.
    # Languages.
    "kotlin": ("kotlin",),
    "scala": ("scala",),
    "php": ("php",),
    "perl": ("perl",),
    "haskell": ("haskell",),
    "elixir": ("elixir",),
    "erlang": ("erlang",),
    "clojure": ("clojure",),
    "dart": ("dart",),
    "lua": ("lua",),
    "matlab": ("matlab",),
    "objective-c": ("objective-c", "objective c"),
    "bash": ("bash", "shell scripting"),
    "powershell": ("powershell",),
    "html": ("html", "html5"),
    "sass": ("sass", "scss"),
    "graphql": ("graphql",),
    # Frameworks and libraries.
    "react native": ("react native",),
    "angular": ("angular", "angularjs", "angular.js"),
    "vue": ("vue", "vue.js", "vuejs"),
    "svelte": ("svelte",),
    "next.js": ("next.js", "nextjs"),
    "express.js": ("express.js", "expressjs"),
    "fastapi": ("fastapi",),
    "spring boot": ("spring boot", "spring framework"),
    "ruby on rails": ("ruby on rails",),
    "laravel": ("laravel",),
    "symfony": ("symfony",),
    "asp.net": ("asp.net",),
    "flutter": ("flutter",),
    "android": ("android",),
    "ios": ("ios",),
    # Data and machine learning.
    "mysql": ("mysql",),
    "mongodb": ("mongodb", "mongo"),
    "redis": ("redis",),
    "elasticsearch": ("elasticsearch", "opensearch"),
    "cassandra": ("apache cassandra",),
    "dynamodb": ("dynamodb",),
    "snowflake": ("snowflake",),
    "bigquery": ("bigquery",),
    "hadoop": ("hadoop",),
    "dbt": ("dbt",),
    "pandas": ("pandas",),
    "numpy": ("numpy",),
    "scikit-learn": ("scikit-learn", "sklearn"),
    "tensorflow": ("tensorflow",),
    "pytorch": ("pytorch",),
    "deep learning": ("deep learning",),
    "nlp": ("nlp", "natural language processing"),
    "computer vision": ("computer vision",),
    "power bi": ("power bi", "powerbi"),
    "microsoft excel": ("microsoft excel", "ms excel"),
    # Cloud, operations and tools.
    "azure": ("azure", "microsoft azure"),
    "gcp": ("gcp", "google cloud"),
    "ansible": ("ansible",),
    "github actions": ("github actions",),
    "gitlab ci": ("gitlab ci", "gitlab-ci"),
    "ci/cd": ("ci/cd", "continuous integration", "continuous delivery"),
    "linux": ("linux",),
    "git": ("git",),
    "prometheus": ("prometheus",),
    "grafana": ("grafana",),
    "openshift": ("openshift",),
    "microservices": ("microservices",),
    "rabbitmq": ("rabbitmq",),
    "oauth": ("oauth", "oauth2", "openid connect"),
    "cybersecurity": ("cybersecurity", "cyber security", "information security"),
    "penetration testing": ("penetration testing", "pentesting"),
    # Testing.
    "pytest": ("pytest",),
    "junit": ("junit",),
    # Ways of working and other professions.
    "agile": ("agile",),
    "scrum": ("scrum",),
    "kanban": ("kanban",),
    "jira": ("jira",),
    "product management": ("product management",),
    "ux design": ("ux design", "user experience design", "ux/ui"),
    "figma": ("figma",),
    "seo": ("seo", "search engine optimization"),
    "accounting": ("accounting",),
    "digital marketing": ("digital marketing",),
}

# Each way of writing a skill, lower case, to the name it is kept by ("k8s" -> "kubernetes").
SKILL_BY_ALIAS = {alias: skill for skill, aliases in SKILLS.items() for alias in (skill, *aliases)}


def canonical_skill(written: str) -> str:
    """The name a skill is kept by, from any way of writing it; an unknown one, trimmed and in lower case."""
    name = written.strip().lower()
    return SKILL_BY_ALIAS.get(name, name)
