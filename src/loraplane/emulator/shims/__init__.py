"""Small patches of moto's in-process backends, each for one thing moto lacks (docs/emulator.md).

`install_all` is called once by the emulator before it serves requests.
"""
from . import (alarm_evaluation, application_autoscaling, cfn_custom_resources, cfn_gaps, eventbridge_targets,
               execution_reuse, fast_waits, faults, image_build, lambda_runtime, s3_eventbridge, s3_secure_transport,
               sagemaker_events, sagemaker_hosting, sagemaker_runtime, service_quotas, servicecatalog_admin,
               sfn_lambda_errors)

_installed = False


def install_all(endpoint_url: str) -> None:
    global _installed
    if _installed:
        return
    lambda_runtime.install(endpoint_url)
    eventbridge_targets.install()
    s3_eventbridge.install()
    s3_secure_transport.install()
    sagemaker_events.install()
    cfn_gaps.install()
    image_build.install()
    cfn_custom_resources.install(endpoint_url)
    servicecatalog_admin.install()
    service_quotas.install()
    application_autoscaling.install()
    alarm_evaluation.install()
    fast_waits.install()
    execution_reuse.install()
    sfn_lambda_errors.install()
    sagemaker_hosting.install(endpoint_url)
    sagemaker_runtime.install()
    faults.install()  # last: wraps the Lambda runtime's invoke
    _installed = True
