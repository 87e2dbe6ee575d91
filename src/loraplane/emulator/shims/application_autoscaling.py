"""Application Auto Scaling of inference components.

moto 5.2.5 validates `ScalableDimension` against an enum that lacks
`sagemaker:inference-component:DesiredCopyCount`, so RegisterScalableTarget (and every call naming
it) is refused with a ValidationException. AWS accepts it for resource ids
`inference-component/<name>` (https://docs.aws.amazon.com/autoscaling/application/APIReference/API_RegisterScalableTarget.html,
ScalableDimension). The shim puts the missing dimensions of botocore's model into moto's enum; moto's
own check that the dimension's resource type matches the resource id stays. Nothing scales: targets and
policies are stored, as moto stores the others, and no alarm is evaluated.
"""
from enum import Enum

MISSING = ("sagemaker:inference-component:DesiredCopyCount",)


def install() -> None:
    from moto.applicationautoscaling import models, responses

    known = {d.name: d.value for d in models.ScalableDimensionValueSet}
    extra = {v.replace(":", "_").replace("-", "_").upper(): v for v in MISSING if v not in known.values()}
    if not extra:
        return
    # Both modules read the enum by name when validating: one enum with every member, in both.
    dimensions = Enum("ScalableDimensionValueSet", known | extra)
    models.ScalableDimensionValueSet = responses.ScalableDimensionValueSet = dimensions
