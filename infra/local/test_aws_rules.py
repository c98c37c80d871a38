"""Unit tests of the local AWS rules layer's pure parts (run by `make test`):

    .venv/bin/python -m unittest discover -s infra/local -p 'test_*.py'
"""

import os
import unittest

import aws_rules as rules

HERE = os.path.dirname(os.path.abspath(__file__))
TEMPLATE = os.path.join(HERE, "..", "template.yaml")
REGION = "ap-southeast-2"
TABLE = rules.table_arn(REGION)


class TemplatePolicies(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.policies = rules.function_policies(rules.load_template(TEMPLATE), REGION)

    def allowed(self, function, operation, body):
        policy = self.policies[function]
        return all(policy.decide(a, r) for a, r in rules.dynamodb_permissions(operation, body, REGION))

    def test_every_function_has_a_policy(self):
        self.assertIn("CreateCheckoutFunction", self.policies)
        self.assertIn("FoundingSpotsFunction", self.policies)
        self.assertTrue(all(p.statements for p in self.policies.values()))

    def test_actions_are_per_function(self):
        self.assertTrue(self.allowed("FoundingSpotsFunction", "Query", {"TableName": "t"}))
        self.assertFalse(self.allowed("FoundingSpotsFunction", "PutItem", {"TableName": "t"}))
        self.assertFalse(self.allowed("CustomerPortalFunction", "Query", {"TableName": "t"}))

    def test_batch_get_is_its_own_action(self):
        body = {"RequestItems": {"t": {"Keys": [{}]}}}
        self.assertEqual(rules.dynamodb_permissions("BatchGetItem", body, REGION), [("dynamodb:BatchGetItem", TABLE)])
        self.assertFalse(self.allowed("StripeWebhookFunction", "BatchGetItem", body))

    def test_a_transaction_needs_the_action_of_each_part(self):
        body = {
            "TransactItems": [
                {"Put": {"TableName": "t", "Item": {}}},
                {"ConditionCheck": {"TableName": "t", "Key": {}}},
            ]
        }
        self.assertEqual(
            rules.dynamodb_permissions("TransactWriteItems", body, REGION),
            [("dynamodb:PutItem", TABLE), ("dynamodb:ConditionCheckItem", TABLE)],
        )
        # The booking webhooks may check a condition; the Stripe webhook may not.
        self.assertTrue(self.allowed("CalWebhookFunction", "TransactWriteItems", body))
        self.assertFalse(self.allowed("StripeWebhookFunction", "TransactWriteItems", body))

    def test_a_query_on_an_index_needs_the_index_arn(self):
        by_email = {"TableName": "t", "IndexName": "by_email"}
        by_stage = {"TableName": "t", "IndexName": "by_stage"}
        self.assertEqual(
            rules.dynamodb_permissions("Query", by_email, REGION), [("dynamodb:Query", TABLE + "/index/by_email")]
        )
        self.assertTrue(self.allowed("CalWebhookFunction", "Query", by_email))
        self.assertFalse(self.allowed("CalWebhookFunction", "Query", by_stage))
        self.assertTrue(self.allowed("PipelineFunction", "Query", by_stage))
        # The table's ARN does not cover its indexes.
        self.assertFalse(self.allowed("FoundingSpotsFunction", "Query", by_email))

    def test_wildcards_and_deny(self):
        policy = rules.Policy(
            "F",
            [
                rules.Statement("Allow", ["dynamodb:Get*"], [TABLE + "*"]),
                rules.Statement("Deny", ["dynamodb:GetItem"], [TABLE + "/index/*"]),
            ],
        )
        self.assertTrue(policy.decide("dynamodb:GetItem", TABLE))
        self.assertTrue(policy.decide("dynamodb:getitem", TABLE))
        self.assertFalse(policy.decide("dynamodb:GetItem", TABLE + "/index/x"))
        self.assertFalse(policy.decide("dynamodb:PutItem", TABLE))

    def test_secrets_only_where_granted(self):
        secret = rules.secret_arn(REGION)
        self.assertTrue(self.policies["StripeWebhookFunction"].decide("secretsmanager:GetSecretValue", secret))
        self.assertFalse(self.policies["FoundingSpotsFunction"].decide("secretsmanager:GetSecretValue", secret))


class Requests(unittest.TestCase):
    def test_access_key_and_region_from_sigv4(self):
        auth = (
            "AWS4-HMAC-SHA256 Credential=local-PipelineFunction/20261202/ap-southeast-2/dynamodb/aws4_request, "
            "SignedHeaders=host, Signature=0"
        )
        self.assertEqual(rules.access_key_of(auth), "local-PipelineFunction")
        self.assertEqual(rules.region_of(auth, "x"), "ap-southeast-2")
        self.assertIsNone(rules.access_key_of(""))

    def test_ses_and_sns_requests_name_the_action_and_resource_aws_authorises(self):
        ses = rules.rest_permissions(
            "POST", "/v2/email/outbound-emails",
            b'{"FromEmailAddress": "Agency OS <offers@agency.test>"}', "ap-southeast-2")
        self.assertEqual(ses, ("ses", [("ses:SendEmail", f"arn:aws:ses:ap-southeast-2:{rules.ACCOUNT}:identity/agency.test")]))
        topic = f"arn:aws:sns:ap-southeast-2:{rules.ACCOUNT}:TeamAlerts"
        sns = rules.rest_permissions(
            "POST", "/", f"Action=Publish&TopicArn={topic}&Message=hi".encode(), "ap-southeast-2")
        self.assertEqual(sns, ("sns", [("sns:Publish", topic)]))
        self.assertIsNone(rules.rest_permissions("POST", "/", b"Action=CreateTopic&Name=x", "ap-southeast-2"))
        self.assertIsNone(rules.rest_permissions("GET", "/v2/email/identities", b"", "ap-southeast-2"))

    def test_limits(self):
        too_many = {"TransactItems": [{"Put": {"TableName": "t", "Item": {}}}] * 101}
        self.assertIn("100", rules.limit_violation("TransactWriteItems", too_many))
        big = {"TableName": "t", "Item": {"pk": {"S": "x"}, "blob": {"S": "a" * (400 * 1024)}}}
        self.assertIn("Item size", rules.limit_violation("PutItem", big))
        keys = {"RequestItems": {"t": {"Keys": [{"pk": {"S": str(i)}} for i in range(101)]}}}
        self.assertIn("Too many items", rules.limit_violation("BatchGetItem", keys))
        self.assertIsNone(rules.limit_violation("PutItem", {"TableName": "t", "Item": {"pk": {"S": "x"}}}))

    def test_item_keys_name_each_item_once_per_part(self):
        body = {
            "TransactItems": [
                {"Put": {"TableName": "t", "Item": {"pk": {"S": "A"}, "sk": {"S": "1"}, "x": {"N": "1"}}}},
                {"Update": {"TableName": "t", "Key": {"pk": {"S": "A"}, "sk": {"S": "1"}}}},
            ]
        }
        keys = rules.item_keys("TransactWriteItems", body, lambda t: ("pk", "sk"))
        self.assertEqual(keys[0], keys[1])

    def test_rules_refuse_unknown_settings(self):
        self.assertTrue(rules.Rules.from_json({"table": "t", "conflicts": True}).conflicts)
        with self.assertRaises(ValueError):
            rules.Rules.from_json({"table": "t", "conflict": True})


if __name__ == "__main__":
    unittest.main()
