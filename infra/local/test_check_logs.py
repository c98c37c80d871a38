"""check_logs.py: which lines of a make dev log are the functions', and what they must carry."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import check_logs  # noqa: E402

GOOD = ('{"level":"INFO","message":"checkout started","request_id":"r-1","apigw_request_id":"a-1",'
        '"function":"create-checkout","cold_start":true,"email":"a***@example.com"}')
EMF = ('{"FoundingHoldsCreated":1,"_aws":{"Timestamp":1},"cold_start":false,"function":"create-checkout",'
       '"request_id":"r-2","spot":"1"}')


class CheckLogsTest(unittest.TestCase):
    def test_function_lines_with_the_fields_pass_and_other_lines_are_skipped(self):
        lines = [
            GOOD, "    " + GOOD, "    = note" + GOOD, EMF,
            "[dev] ready: every function is built.",
            "   Compiling sales v0.1.0",
            '         -d \'{"email":"ada@example.com","plan_type":"founding"}\'',
            '{"level":"INFO","message":"cut short',
        ]
        checked, problems = check_logs.check(lines)
        self.assertEqual((checked, problems), (4, []))

    def test_the_old_format_and_missing_fields_are_reported(self):
        old = ('{"level":"INFO","fields":{"message":"request refused"},'
               '"spans":[{"requestId":"c4","name":"Lambda runtime invoke"}]}')
        no_cold = GOOD.replace(',"cold_start":true', "")
        string_cold = GOOD.replace('"cold_start":true', '"cold_start":"true"')
        old_emf = '{"FoundingHoldsCreated":1,"_aws":{"Timestamp":1},"spot":"1"}'
        checked, problems = check_logs.check([old, no_cold, string_cold, old_emf])
        self.assertEqual(checked, 4)
        found = {(n, p) for n, p, _ in problems}
        self.assertIn((1, "no request_id (str)"), found)
        self.assertIn((1, "no function (str)"), found)
        self.assertIn((1, "no cold_start (bool)"), found)
        self.assertIn((2, "no cold_start (bool)"), found)
        self.assertIn((3, "no cold_start (bool)"), found)
        self.assertIn((4, "no request_id (str)"), found)

    def test_unmasked_addresses_are_reported(self):
        leak = GOOD.replace("a***@example.com", "ada@example.com")
        encoded = GOOD.replace("a***@example.com", "ada%40example.com")
        _, problems = check_logs.check([leak, encoded])
        self.assertEqual([(n, p) for n, p, _ in problems],
                         [(1, "unmasked address ada@example.com"), (2, "unmasked address ada%40example.com")])


if __name__ == "__main__":
    unittest.main()
