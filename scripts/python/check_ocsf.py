"""Validates `ctverify --format ocsf` output against the OCSF 1.x class definitions of PyPI
`py-ocsf-models` (Prowler's), not against a hand-written copy of the schema.

Reads JSON Lines on stdin. Each line must be a Detection Finding (2004) or a Compliance Finding
(2003) that the package's pydantic model accepts, with nothing the model does not know: every
attribute the line carries must survive the model's round trip, so a misspelt or misplaced
attribute fails instead of being dropped. The cloud profile's `cloud` attribute, which the
package's Compliance Finding model does not list, is validated with its own model (OCSF
profiles add attributes to a class). Prints one line per event and exits 1 on the first
invalid one.
"""

import json
import sys

from py_ocsf_models.events.findings.compliance_finding import ComplianceFinding
from py_ocsf_models.events.findings.detection_finding import DetectionFinding
from py_ocsf_models.objects.cloud import Cloud

CLASSES = {2003: ComplianceFinding, 2004: DetectionFinding}
# Attributes a profile adds to any class (OCSF "cloud" profile).
PROFILE_ATTRIBUTES = {"cloud": Cloud}


def lost(sent, kept, path):
    """The paths of `sent` that the model's dump `kept` does not hold as sent."""
    if isinstance(sent, dict):
        if not isinstance(kept, dict):
            return [path]
        out = []
        for key, value in sent.items():
            if key not in kept:
                out.append(f"{path}.{key}")
            else:
                out.extend(lost(value, kept[key], f"{path}.{key}"))
        return out
    if isinstance(sent, list):
        if not isinstance(kept, list) or len(kept) != len(sent):
            return [path]
        out = []
        for i, (a, b) in enumerate(zip(sent, kept)):
            out.extend(lost(a, b, f"{path}[{i}]"))
        return out
    return [] if sent == kept else [f"{path} ({sent!r} became {kept!r})"]


def check(line):
    event = json.loads(line)
    model = CLASSES.get(event.get("class_uid"))
    if model is None:
        raise ValueError(f"class_uid {event.get('class_uid')!r} is not 2003 or 2004")
    if "cloud" not in event.get("metadata", {}).get("profiles", []):
        raise ValueError("metadata.profiles does not name the cloud profile")
    body = dict(event)
    for name, profile_model in PROFILE_ATTRIBUTES.items():
        if name in body and name not in model.model_fields:
            value = body.pop(name)
            kept = profile_model.model_validate(value).model_dump(mode="json", exclude_unset=True)
            missing = lost(value, kept, name)
            if missing:
                raise ValueError(f"unknown or changed attributes: {missing}")
    parsed = model.model_validate(body)
    kept = parsed.model_dump(mode="json", exclude_unset=True)
    missing = lost(body, kept, "$")
    if missing:
        raise ValueError(f"unknown or changed attributes: {missing}")
    if event["type_uid"] != event["class_uid"] * 100 + event["activity_id"]:
        raise ValueError("type_uid is not class_uid * 100 + activity_id")
    if event.get("cloud", {}).get("provider") != "AWS":
        raise ValueError("cloud.provider is not AWS")
    return model.__name__, event["finding_info"]["uid"]


def main():
    count = 0
    for number, line in enumerate(sys.stdin, 1):
        if not line.strip():
            continue
        try:
            name, uid = check(line)
        except Exception as e:  # every failure is reported with its line
            print(f"line {number}: INVALID: {e}")
            return 1
        print(f"line {number}: {name} {uid}")
        count += 1
    if count == 0:
        print("no events")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
