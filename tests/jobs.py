"""Job objects as pyzeebe hands them to task functions, for unit tests of task logic."""

from pyzeebe import Job


def make_job(
    job_type: str, *, element_instance_key: int = 500, headers=None, variables=None, element_id="task"
) -> Job:
    return Job(
        key=element_instance_key + 1,
        type=job_type,
        process_instance_key=400,
        bpmn_process_id="test-process",
        process_definition_version=1,
        process_definition_key=300,
        element_id=element_id,
        element_instance_key=element_instance_key,
        custom_headers=headers or {},
        worker="test",
        retries=5,
        deadline=0,
        variables=variables or {},
    )


class RecordingZeebeAdapter:
    """Records fail_job and throw_error calls instead of sending them over gRPC."""

    def __init__(self):
        self.calls: list[tuple[str, dict]] = []

    async def fail_job(self, **kwargs):
        self.calls.append(("fail_job", kwargs))

    async def throw_error(self, **kwargs):
        self.calls.append(("throw_error", kwargs))

    async def complete_job(self, **kwargs):
        self.calls.append(("complete_job", kwargs))
