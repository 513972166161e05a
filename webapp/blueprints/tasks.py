"""``/tasks``: people's tasks on the embedded engine, which has no Tasklist (see ``webapp.local_tasks``).

On a cluster these pages answer 404 and point to Tasklist, where the tasks are.
"""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, url_for

from webapp.http import incidents, stalled_jobs, tasklist_link
from webapp.local_tasks import LocalTasks
from webapp.problems import Problem, invalid_field
from webapp.schemas import IncidentRetry, is_engine_key

bp = Blueprint("tasks", __name__, url_prefix="/tasks")


def local_tasks() -> LocalTasks:
    """The stand-in for Tasklist, where the engine has no Tasklist; else a 404 naming Tasklist."""
    if not current_app.config.get("ENGINE_CONTROL_URL"):
        raise Problem(404, "Tasks are in Tasklist", f"people's tasks are done in Tasklist: {tasklist_link()}")
    return current_app.extensions["local_tasks"]


@bp.get("")
def task_list():
    instance = request.args.get("instance", "").strip() or None
    if instance is not None and not is_engine_key(instance):
        raise invalid_field("instance", "a process instance key (digits)")
    tasks = local_tasks().open_tasks(instance)
    if instance is not None and len(tasks) == 1:
        # An item page's "do it here" link: one task waits there, so its form is where to go.
        return redirect(url_for("tasks.task_form", key=tasks[0].key))
    stopped = local_tasks().open_incidents(instance)
    # After an outage many steps stop with one cause: mended once, they are retried at once.
    causes = incidents().by_cause() if instance is None and stopped else []
    retried = request.args.get("retried", type=int)
    stalled = [job for job in stalled_jobs().find() if instance in (None, job.process_instance_key)]
    return render_template(
        "tasks.html",
        tasks=tasks,
        incidents=stopped,
        causes=causes,
        instance=instance,
        retried=retried,
        stalled=stalled,
        restarted=request.args.get("restarted"),
    )


@bp.post("/incidents/retry")
def retry_incidents_of_a_cause():
    """Retry every open incident of the cause chosen, as Operate's batch retry does."""
    local_tasks()  # on the embedded engine only: a cluster's operators have Operate
    cause = IncidentRetry.model_validate({"cause": request.form.get("cause", "")}).cause
    report = incidents().retry_every(cause)
    return redirect(url_for("tasks.task_list", retried=len(report["retried"]), _anchor="incidents"), code=303)


@bp.post("/stalled-jobs/<job_key>/restart")
def restart_stalled_job(job_key: str):
    """Enter the task of a job the engine never offered again once more (Operate's modification)."""
    local_tasks()  # on the embedded engine only: a cluster's operators have Operate
    if not is_engine_key(job_key):
        raise invalid_field("job_key", "a job key (digits)")
    if stalled_jobs().restart_one(job_key) is None:
        raise Problem(404, "Not stalled", f"job {job_key} is not a stalled job (any more); reload the page")
    return redirect(url_for("tasks.task_list", restarted=job_key, _anchor="stalled-jobs"), code=303)


@bp.get("/<key>")
def task_form(key: str):
    tasks = local_tasks()
    task = tasks.task(key)
    return render_template("task.html", task=task, fields=tasks.fields(task), errors={})


@bp.post("/<key>")
def complete_task(key: str):
    tasks = local_tasks()
    task = tasks.task(key)
    submitted = {name: value for name, value in request.form.items() if name != "csrf_token"}
    try:
        tasks.complete(task, submitted)
    except Problem as problem:
        if problem.status != 400:
            raise
        # The form again, with what was typed and what is wrong, as Tasklist would.
        errors = {p["name"]: p["reason"] for p in problem.extensions["invalid_params"]}
        page = render_template("task.html", task=task, fields=tasks.fields(task, submitted), errors=errors)
        return page, 400
    if task.item:
        kind, business_id = task.item
        return redirect(url_for("ui.item", kind=kind, business_id=business_id), code=303)
    return redirect(url_for("tasks.task_list"), code=303)
