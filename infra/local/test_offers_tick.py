"""offers_tick.py's mail lines."""

import unittest

import offers_tick


class MailLines(unittest.TestCase):
    def test_each_new_message_once_with_its_offer_link(self):
        sent = [
            {"id": "a", "destinations": {"ToAddresses": ["w1@example.com"]},
             "subject": "Your Agency OS founding spot is reserved",
             "body": "spot 3 ... Claim it here: http://127.0.0.1:8080/?offer=eyJl.abc-_\n"},
            {"id": "b", "destinations": {"ToAddresses": ["w2@example.com"]}, "subject": "Hi", "body": "no link"},
        ]
        seen = set()
        lines = offers_tick.mail_lines(sent, seen)
        self.assertEqual(lines, [
            "[mail] to w1@example.com | Your Agency OS founding spot is reserved | http://127.0.0.1:8080/?offer=eyJl.abc-_",
            "[mail] to w2@example.com | Hi",
        ])
        self.assertEqual(offers_tick.mail_lines(sent, seen), [])


if __name__ == "__main__":
    unittest.main()
