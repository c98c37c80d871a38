"""alerts_tail.py: make dev's [alert] lines, from what the local server says was published."""

import io
import json
import threading
import unittest
from contextlib import redirect_stderr
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import alerts_tail

TOPIC = "arn:aws:sns:ap-southeast-2:123456789012:TeamAlertsTopic"


def structured(line):
    return json.dumps({"default": line, "email": line, "https": "{}"})


class AlertsTailTest(unittest.TestCase):
    def test_new_messages_of_the_topic_only_once_each(self):
        seen = set()
        sent = [
            {"id": "1", "topic": TOPIC, "message": structured("Demo booked: ada@example.com on Cal.com")},
            {"id": "2", "topic": TOPIC.replace("TeamAlertsTopic", "AlarmTopic"), "message": "an alarm"},
            {"id": "3", "topic": TOPIC, "message": "a plain message"},
        ]
        self.assertEqual(
            alerts_tail.new_alerts(sent, "TeamAlertsTopic", seen),
            ["Demo booked: ada@example.com on Cal.com", "a plain message"],
        )
        sent.append({"id": "4", "topic": TOPIC, "message": structured("Payment failed: x")})
        self.assertEqual(alerts_tail.new_alerts(sent, "TeamAlertsTopic", seen), ["Payment failed: x"])
        self.assertEqual(alerts_tail.new_alerts(sent, "TeamAlertsTopic", seen), [])

    def test_a_json_message_without_default_is_shown_as_it_is(self):
        self.assertEqual(alerts_tail.alert_line('{"email": "x"}'), '{"email": "x"}')
        self.assertEqual(alerts_tail.alert_line("[1]"), "[1]")

    def test_against_a_server_what_was_there_at_start_is_not_printed(self):
        sent = [{"id": "old", "topic": TOPIC, "message": structured("an earlier run's alert")}]

        class Sent(BaseHTTPRequestHandler):
            def do_GET(self):
                body = json.dumps({"service": "sns", "sent": sent}).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Sent)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        tail = alerts_tail.Tail(f"http://127.0.0.1:{server.server_address[1]}")
        self.assertEqual(tail.poll(), [], "what was there at start")
        self.assertEqual(tail.poll(), [])
        sent.append({"id": "new", "topic": TOPIC, "message": structured("Founding member joined: y")})
        self.assertEqual(tail.poll(), ["Founding member joined: y"])
        self.assertEqual(tail.poll(), [])

    def test_a_server_not_answering_yet_is_asked_again(self):
        tail = alerts_tail.Tail("http://127.0.0.1:9")
        err = io.StringIO()
        with redirect_stderr(err):
            self.assertEqual(tail.poll(), [])
            self.assertEqual(tail.poll(), [])
        self.assertEqual(err.getvalue().count("could not read"), 1, "said once")
        self.assertFalse(tail.started)

if __name__ == "__main__":
    unittest.main()
