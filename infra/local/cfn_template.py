"""infra/template.yaml as CloudFormation reads it: PyYAML's safe loader plus the short-form tags
(`!Ref X` is `{"Ref": "X"}`, `!GetAtt A.B` is `{"Fn::GetAtt": ["A", "B"]}`, …). Shared by the
local API gateway (gateway.py) and the local IAM check (aws_rules.py)."""

import os

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TEMPLATE = os.path.join(ROOT, "infra", "template.yaml")


class TemplateLoader(yaml.SafeLoader):
    """PyYAML's safe loader plus CloudFormation's short forms (!Ref, !Sub, !GetAtt, !If …), each
    read as its long form ({"Ref": …}, {"Fn::Sub": …}), as CloudFormation itself does."""


def _short_form(tag):
    key = "Ref" if tag == "Ref" else "Condition" if tag == "Condition" else "Fn::" + tag

    def construct(loader, node):
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        if tag == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)  # !GetAtt Res.Attr == Fn::GetAtt: [Res, Attr]
        return {key: value}

    return construct


for _tag in ("Ref", "Sub", "GetAtt", "If", "Not", "Equals", "And", "Or", "Join", "Select", "Split",
             "FindInMap", "Base64", "Cidr", "GetAZs", "ImportValue", "Condition", "Transform",
             "Length", "ToJsonString"):
    TemplateLoader.add_constructor("!" + _tag, _short_form(_tag))


def load_template(path=TEMPLATE):
    with open(path) as f:
        return yaml.load(f, Loader=TemplateLoader)
