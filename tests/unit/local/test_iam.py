"""The local IAM enforcement point: policy evaluation, S3 request mapping, 403-instead-of-404."""

from __future__ import annotations

import pytest

from filescan_local.iam_eval import Request, UnsupportedPolicy, evaluate, parse_policy
from filescan_local.iam_policies import PolicySet, Role, load_policies
from filescan_local.iam_requests import s3_checks
from filescan_local.iam_server import Enforcer
from filescan_local.template import TEMPLATE_PATH, Template

ROLE = "arn:aws:iam::123456789012:role/reader"
OBJECT = "arn:aws:s3:::bucket/uploads/a b.txt"
READ_GATE = {
    "Statement": [
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": ["s3:GetObject", "s3:GetObjectVersion"],
            "Resource": "arn:aws:s3:::bucket/uploads/*",
            "Condition": {
                "StringNotEquals": {"s3:ExistingObjectTag/filescan-verdict": "clean"},
                "ArnNotEquals": {"aws:PrincipalArn": ["arn:aws:iam::123456789012:role/scanner"]},
            },
        }
    ]
}
READER = {"Statement": [{"Effect": "Allow", "Action": "s3:GetObject*", "Resource": "arn:aws:s3:::bucket/*"}]}


def _get(principal: str, tags: dict[str, str]) -> Request:
    context = {f"s3:existingobjecttag/{k}": [v] for k, v in tags.items()} | {"aws:principalarn": [principal]}
    return Request(principal, "s3:GetObject", OBJECT, context)


def test_given_the_read_gate_when_an_object_is_read_then_untagged_is_denied_and_clean_allowed() -> None:
    identity, bucket = parse_policy(READER), parse_policy(READ_GATE, resource_policy=True)

    assert not evaluate(_get(ROLE, {}), identity, bucket).allowed
    assert not evaluate(_get(ROLE, {"filescan-verdict": "malicious"}), identity, bucket).allowed
    assert evaluate(_get(ROLE, {"filescan-verdict": "clean"}), identity, bucket).allowed
    scanner = "arn:aws:iam::123456789012:role/scanner"
    assert evaluate(_get(scanner, {}), identity, bucket).allowed


def test_given_an_operator_the_evaluator_does_not_know_when_parsed_then_it_is_refused() -> None:
    condition = {"NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}}
    policy = {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": condition}]}
    with pytest.raises(UnsupportedPolicy):
        parse_policy(policy)


def test_given_a_null_condition_when_evaluated_then_copies_are_denied_but_plain_puts_allowed() -> None:
    no_copies = {
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:PutObject",
                "Resource": "arn:aws:s3:::bucket/uploads/*",
                "Condition": {"Null": {"s3:x-amz-copy-source": "false"}},
            }
        ]
    }
    writer = parse_policy({"Statement": [{"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"}]})
    bucket = parse_policy(no_copies, resource_policy=True)
    [put] = s3_checks("PUT", "/bucket/uploads/a", {}, {}, lambda: b"")
    [copy, read] = s3_checks("PUT", "/bucket/uploads/a", {}, {"x-amz-copy-source": "/other/b"}, lambda: b"")

    assert evaluate(Request(ROLE, put.action, put.resource, put.context), writer, bucket).allowed
    assert not evaluate(Request(ROLE, copy.action, copy.resource, copy.context), writer, bucket).allowed
    assert read.action == "s3:GetObject"


def test_given_s3_requests_when_mapped_then_they_become_the_documented_actions() -> None:
    def actions(method: str, path: str, query: dict[str, list[str]], headers: dict[str, str] | None = None,
                body: bytes = b"") -> list[tuple[str, str]]:  # fmt: skip
        return [(c.action, c.resource) for c in s3_checks(method, path, query, headers or {}, lambda: body)]

    assert actions("HEAD", "/bucket/uploads/a%20b.txt", {}) == [("s3:GetObject", OBJECT)]
    assert actions("DELETE", "/bucket/q/x", {"uploadId": ["1"]}) == [
        ("s3:AbortMultipartUpload", "arn:aws:s3:::bucket/q/x")
    ]
    copy = actions("PUT", "/bucket/q/x", {"partNumber": ["1"], "uploadId": ["1"]},
                   {"x-amz-copy-source": "bucket/uploads/a%20b.txt?versionId=v1"})  # fmt: skip
    assert copy == [("s3:PutObject", "arn:aws:s3:::bucket/q/x"), ("s3:GetObjectVersion", OBJECT)]
    tagging = (
        b"<Tagging><TagSet><Tag><Key>filescan-verdict</Key><Value>clean</Value></Tag></TagSet></Tagging>"
    )
    (check,) = s3_checks(
        "PUT", "/bucket/uploads/a", {"tagging": [""], "versionId": ["v"]}, {}, lambda: tagging
    )
    assert (check.action, check.context["s3:requestobjecttagkeys"]) == (
        "s3:PutObjectVersionTagging",
        ["filescan-verdict"],
    )
    assert actions("GET", "/bucket", {"list-type": ["2"], "prefix": ["uploads/"]}) == [
        ("s3:ListBucket", "arn:aws:s3:::bucket")
    ]


@pytest.mark.parametrize(
    ("grants", "allowed"), [(("s3:GetObject",), False), (("s3:GetObject", "s3:ListBucket"), True)]
)
def test_given_a_missing_object_when_read_then_it_is_403_without_list_bucket(
    grants: tuple[str, ...], allowed: bool
) -> None:
    resources = ["arn:aws:s3:::bucket", "arn:aws:s3:::bucket/*"]
    statements = parse_policy(
        {"Statement": [{"Effect": "Allow", "Action": list(grants), "Resource": resources}]}
    )
    role = Role("Reader", ROLE, statements, ())
    enforcer = Enforcer(PolicySet({ROLE: role}, {}, {}, None), object_tags=lambda *_: None)
    (check,) = s3_checks("GET", "/bucket/uploads/missing", {}, {}, lambda: b"")

    assert (enforcer.first_denial(role, [check]) is None) is allowed


def test_given_the_template_when_policies_load_then_functions_and_the_job_get_roles_with_own_keys() -> None:
    policies = load_policies(Template.load())

    assert set(policies.function_roles) >= {"EnqueueFunction", "AnalysisFunction", "ApiFunction"}
    assert policies.job_role in policies.roles
    keys = [role.access_key for role in policies.roles.values()]
    assert len(set(keys)) == len(keys)
    assert PolicySet.from_json(policies.to_json()) == policies


def test_given_tags_sent_with_create_multipart_upload_when_evaluated_then_policies_see_none() -> None:
    headers = {"x-amz-tagging": "filescan-verdict=clean"}

    [create] = s3_checks("POST", "/bucket/uploads/a", {"uploads": [""]}, headers, lambda: b"")
    [put, tagging] = s3_checks("PUT", "/bucket/uploads/a", {}, headers, lambda: b"")

    # Undocumented for CreateMultipartUpload: modelled as unchecked (the worst case for the gate).
    assert (create.action, create.context) == ("s3:PutObject", {})
    assert put.context["s3:requestobjecttagkeys"] == ["filescan-verdict"]
    assert tagging.action == "s3:PutObjectTagging"


UPLOADER = "arn:aws:iam::123456789012:role/uploader"


@pytest.mark.parametrize("direct_clean_reads", [False, True])
def test_given_the_template_when_a_clean_object_is_read_then_only_the_api_may_by_default(
    direct_clean_reads: bool,
) -> None:
    template = Template.load(overrides={"DirectCleanReads": str(direct_clean_reads).lower()})
    policies = load_policies(template)
    bucket = template.physical_name("UploadsBucket")
    api = policies.roles[policies.function_roles["ApiFunction"]]
    reader = {"Effect": "Allow", "Action": "s3:GetObject*", "Resource": f"arn:aws:s3:::{bucket}/*"}
    uploader = Role("Uploader", UPLOADER, parse_policy({"Statement": [reader]}), ())

    def readable(role: Role, tags: dict[str, str]) -> bool:
        enforcer = Enforcer(policies, object_tags=lambda *_: tags)
        (check,) = s3_checks("GET", f"/{bucket}/uploads/a.txt", {"versionId": ["v1"]}, {}, lambda: b"")
        return enforcer.first_denial(role, [check]) is None

    clean = {"filescan-verdict": "clean"}
    assert readable(uploader, clean) is direct_clean_reads
    assert not readable(uploader, {})
    assert readable(api, clean)
    assert not readable(api, {})
    assert not readable(api, {"filescan-verdict": "malicious"})


EXTRA_POLICY = """
  ExtraSubmitPolicy:
    Type: AWS::IAM::Policy
    Properties:
      PolicyName: extra-grants
      Roles: [!Ref EnqueueFunctionRole]
      PolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Sid: ExtraSubmit
            Effect: Allow
            Action: batch:SubmitJob
            Resource: !Sub "arn:${AWS::Partition}:batch:${AWS::Region}:${AWS::AccountId}:job-definition/x:*"
"""


def _with_extra_policy(role: str = "EnqueueFunctionRole") -> Template:
    text = TEMPLATE_PATH.read_text().replace("\nResources:\n", "\nResources:\n" + EXTRA_POLICY, 1)
    return Template.from_text(text.replace("!Ref EnqueueFunctionRole]", f"!Ref {role}]"))


def test_given_a_standalone_iam_policy_resource_when_policies_load_then_its_roles_get_it() -> None:
    policies = load_policies(_with_extra_policy())
    enqueue = policies.roles[policies.function_roles["EnqueueFunction"]]
    assert ("extra-grants/ExtraSubmit", "batch:SubmitJob") in enqueue.granted
    job_definition = "arn:aws:batch:us-east-1:123456789012:job-definition/x:1"
    assert evaluate(Request(enqueue.arn, "batch:SubmitJob", job_definition, {}), enqueue.statements).allowed
    with pytest.raises(ValueError, match="unknown role"):
        load_policies(_with_extra_policy("ScansTable"))
