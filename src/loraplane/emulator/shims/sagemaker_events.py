"""SageMaker model registry -> EventBridge "SageMaker Model Package State Change" events.

moto emits no SageMaker events. AWS sends this one when a package version is created and on
every update (approval or not), with the package's description as `detail` (see
shared/aws-events). Also fixes moto's UpdateModelPackage, which drops the package's
CustomerMetadataProperties and ApprovalDescription when a call leaves them out, and honours
CreateModelPackage's ClientToken ("guarantees that the call to this API is idempotent", API
reference): a retried create returns the first package instead of a new version.
"""
from loraplane_core.sagemaker_events import package_event_detail

from .events_bus import emit, service_event


def state_change_event(package, account: str, region: str) -> dict:
    detail = package_event_detail(package.gen_response_object())
    return service_event("aws.sagemaker", "SageMaker Model Package State Change", account, region,
                         [package.arn], detail)


def install() -> None:
    from moto.sagemaker.models import SageMakerModelBackend

    create, update = SageMakerModelBackend.create_model_package, SageMakerModelBackend.update_model_package

    def create_model_package(self, *args, **kwargs):
        # A repeated ClientToken is the same request: AWS returns the first call's package and
        # creates (and announces) nothing (moto stores the token but creates another version).
        token, group = kwargs.get("client_token"), kwargs.get("model_package_group_name")
        if token:
            for package in list(self.model_packages.values()):
                if package.client_token == token and package.model_package_group_name == group:
                    return package.arn
        arn = create(self, *args, **kwargs)
        package = self.model_packages[self.model_package_name_mapping.get(arn, arn)]
        emit(self.account_id, self.region_name, state_change_event(package, self.account_id, self.region_name))
        return arn

    def update_model_package(self, model_package_arn, model_approval_status, approval_description,
                             customer_metadata_properties, *args, **kwargs):
        package = self.model_packages.get(self.model_package_name_mapping.get(model_package_arn, model_package_arn))
        if package is not None:  # AWS merges the given properties into the existing ones
            customer_metadata_properties = {**(package.customer_metadata_properties or {}),
                                            **(customer_metadata_properties or {})} or None
            approval_description = approval_description if approval_description is not None else package.approval_description
        arn = update(self, model_package_arn, model_approval_status, approval_description,
                     customer_metadata_properties, *args, **kwargs)
        package = self.model_packages[self.model_package_name_mapping.get(arn, arn)]
        emit(self.account_id, self.region_name, state_change_event(package, self.account_id, self.region_name))
        return arn

    SageMakerModelBackend.create_model_package = create_model_package
    SageMakerModelBackend.update_model_package = update_model_package
