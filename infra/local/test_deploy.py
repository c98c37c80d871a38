"""Tests of infra/deploy.py, what `make deploy` decides without AWS: guided the first time, from
samconfig.toml once JwtIssuer and JwtAudience are saved; the stack and region; the next steps,
naming both after-deploy paths (salesctl setup, or by hand) and the outputs.

    .venv/bin/python -m unittest infra/local/test_deploy.py
"""

import json
import os
import sys
import tempfile
import tomllib
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
import deploy  # noqa: E402


def config(text):
    return tomllib.loads(text)


class Mode(unittest.TestCase):
    def test_the_committed_samconfig_starts_guided(self):
        committed = deploy.load_config(deploy.DEFAULT_CONFIG)
        self.assertEqual(deploy.mode(committed, environ={}), "guided")
        self.assertEqual(deploy.stack(committed), ("agency-sales", "ap-southeast-2"))
        params = committed["default"]["deploy"]["parameters"]
        self.assertEqual(params["capabilities"], "CAPABILITY_IAM CAPABILITY_NAMED_IAM")
        self.assertIs(params["confirm_changeset"], True)
        self.assertIs(params["resolve_s3"], True)

    def test_saved_parameters_deploy_from_the_file(self):
        saved = config('version = 0.1\n[default.deploy.parameters]\nstack_name = "s"\n'
                       'parameter_overrides = "JwtIssuer=\\"https://cognito-idp.ap-southeast-2.amazonaws.com/p\\" '
                       'JwtAudience=\\"abc\\" LandingOrigin=\\"https://x.example\\""\n')
        self.assertEqual(deploy.mode(saved, environ={}), "saved")
        self.assertEqual(deploy.parameter_overrides(saved)["JwtAudience"], "abc")
        self.assertEqual(deploy.mode(saved, environ={"GUIDED": "1"}), "guided")
        self.assertEqual(deploy.mode(saved, environ={"GUIDED": "0"}), "saved")

    def test_a_missing_or_empty_required_parameter_is_guided(self):
        only_issuer = config('[default.deploy.parameters]\nparameter_overrides = "JwtIssuer=\\"https://i\\""\n')
        self.assertEqual(deploy.mode(only_issuer, environ={}), "guided")
        empty = config('[default.deploy.parameters]\nparameter_overrides = "JwtIssuer=\\"https://i\\" JwtAudience=\\"\\""\n')
        self.assertEqual(deploy.mode(empty, environ={}), "guided")
        self.assertEqual(deploy.mode({}, environ={}), "guided")

    def test_a_list_of_overrides_and_the_global_section(self):
        listed = config('[default.global.parameters]\nstack_name = "g"\nregion = "us-east-1"\n'
                        '[default.deploy.parameters]\nparameter_overrides = ["JwtIssuer=https://i", "JwtAudience=a,b"]\n')
        self.assertEqual(deploy.mode(listed, environ={}), "saved")
        self.assertEqual(deploy.stack(listed), ("g", "us-east-1"))


class NextSteps(unittest.TestCase):
    def test_both_paths_mention_each_other_and_the_outputs(self):
        outputs = [{"OutputKey": "SecretArn", "OutputValue": "arn:aws:secretsmanager:ap-southeast-2:1:secret:s"},
                   {"OutputKey": "StripeWebhookUrl", "OutputValue": "https://s.lambda-url.ap-southeast-2.on.aws/"},
                   {"OutputKey": "HttpApiUrl", "OutputValue": "https://api.execute-api.ap-southeast-2.amazonaws.com"}]
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(outputs, f)
        try:
            text = deploy.next_steps({}, f.name)
        finally:
            os.unlink(f.name)
        self.assertIn(f"salesctl setup --outputs {f.name}", text)
        self.assertIn("by hand, instead of salesctl setup", text)
        self.assertIn("Use b) instead", text)
        self.assertIn("arn:aws:secretsmanager:ap-southeast-2:1:secret:s", text)
        self.assertIn("https://s.lambda-url.ap-southeast-2.on.aws/", text)
        self.assertIn("<CalWebhookUrl output>", text)      # not in the file: named, not invented
        self.assertIn("docs/runbook.md", text)

    def test_without_outputs_it_says_how_to_get_them(self):
        text = deploy.next_steps({}, "/nonexistent/outputs.json")
        self.assertIn("sam list stack-outputs --stack-name agency-sales --region ap-southeast-2", text)
        self.assertIn("salesctl setup --outputs outputs.json", text)

    def test_a_describe_stacks_answer_is_read_too(self):
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump({"Stacks": [{"Outputs": [{"OutputKey": "SecretArn", "OutputValue": "arn:x"}]}]}, f)
        try:
            self.assertEqual(deploy.load_outputs(f.name), {"SecretArn": "arn:x"})
        finally:
            os.unlink(f.name)


if __name__ == "__main__":
    unittest.main()
