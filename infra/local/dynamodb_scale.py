"""How the local DynamoDB server's transactions cost as its table grows: `make bench` runs this.

Starts the server (infra/local/dynamodb_server.py) on a free port, fills a table to 1k, 10k and
100k items (BatchWriteItem), and at each size times TransactWriteItems of two parts (every fourth
one cancelled by a failing condition, so that the rollback runs too), and reads the server's peak
memory (VmHWM). With --stock-transactions the server keeps moto's whole-table backup per
transaction, for comparison.

Usage: python dynamodb_scale.py [--sizes 1000,10000,100000] [--transactions 40] [--stock-transactions]
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
AUTH = ("AWS4-HMAC-SHA256 Credential=test/20260101/ap-southeast-2/dynamodb/aws4_request, "
        "SignedHeaders=host, Signature=0")


def call(port, target, body):
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/",
        data=json.dumps(body).encode(),
        headers={
            "X-Amz-Target": f"DynamoDB_20120810.{target}",
            "Content-Type": "application/x-amz-json-1.0",
            "Authorization": AUTH,
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=600) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def peak_mb(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def item(i):
    return {"pk": {"S": f"LEAD#{i:08d}"}, "sk": {"S": "LEAD"},
            "email": {"S": f"lead{i}@example.com"}, "stage": {"S": "prospect"},
            "version": {"N": "1"}, "deal_value_aud": {"N": "1500"}}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--transactions", type=int, default=40)
    parser.add_argument("--stock-transactions", action="store_true")
    args = parser.parse_args()
    port = free_port()
    command = [sys.executable, os.path.join(HERE, "dynamodb_server.py"), "--port", str(port)]
    if args.stock_transactions:
        command.append("--stock-transactions")
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                if call(port, "ListTables", {})[0] == 200:
                    break
            except OSError:
                time.sleep(0.2)
        status, answer = call(port, "CreateTable", {
            "TableName": "scale", "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                                     {"AttributeName": "sk", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                          {"AttributeName": "sk", "KeyType": "RANGE"}]})
        assert status == 200, answer
        mode = "stock moto (whole-table backup)" if args.stock_transactions else "touched items only"
        print(f"local DynamoDB transactions, {mode}:")
        print(f"{'items':>8} {'txn p50 ms':>11} {'txn p99 ms':>11} {'cancelled':>10} {'peak MB':>8}")
        filled = 0
        for size in [int(s) for s in args.sizes.split(",")]:
            while filled < size:
                batch = [{"PutRequest": {"Item": item(i)}} for i in range(filled, min(size, filled + 25))]
                status, answer = call(port, "BatchWriteItem", {"RequestItems": {"scale": batch}})
                assert status == 200, answer
                filled += len(batch)
            times, cancelled = [], 0
            for n in range(args.transactions):
                target = f"LEAD#{(n * 7919) % size:08d}"
                condition = "attribute_exists(pk)" if n % 4 else "attribute_not_exists(pk)"
                body = {"TransactItems": [
                    {"Update": {"TableName": "scale", "Key": {"pk": {"S": target}, "sk": {"S": "LEAD"}},
                                "UpdateExpression": "ADD version :one",
                                "ExpressionAttributeValues": {":one": {"N": "1"}},
                                "ConditionExpression": condition}},
                    {"Update": {"TableName": "scale", "Key": {"pk": {"S": "PIPELINE"}, "sk": {"S": "SUMMARY"}},
                                "UpdateExpression": "ADD prospect_count :one",
                                "ExpressionAttributeValues": {":one": {"N": "1"}}}}]}
                started = time.perf_counter()
                status, _ = call(port, "TransactWriteItems", body)
                times.append((time.perf_counter() - started) * 1000)
                cancelled += status != 200
            times.sort()
            p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
            print(f"{size:>8} {statistics.median(times):>11.1f} {p99:>11.1f} {cancelled:>10} {peak_mb(server.pid):>8.0f}",
                  flush=True)
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


if __name__ == "__main__":
    main()
