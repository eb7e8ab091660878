"""A VerifierService written in Python: proof that a reward in any language plugs
into rlvr. rlvr's RemoteVerifier (verifier name "remote") grades through it exactly
as through `rlvr serve-verifier`.

The reward: 1.0 when the last number in the completion equals the gold answer
numerically (|a - b| <= 1e-6 * max(1, |b|)), else 0.0; verdict "no_answer" when the
completion has no number. A spec {"tolerance": x} overrides the tolerance.

Generate the gRPC modules from proto/verifier.proto first (they are not committed):

    python -m grpc_tools.protoc -I proto --python_out=GEN --grpc_python_out=GEN verifier.proto
    python examples/python_verifier/server.py --gen-dir GEN --port 50051

Prints "PORT <n>" once listening; stops cleanly on SIGINT/SIGTERM.
"""
import argparse
import json
import re
import signal
import sys
import threading
from concurrent import futures

import grpc

INVALID_ARGUMENT = 3
NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


def grade(completion, answer, spec):
    """Returns (score, verdict, details) for one item."""
    numbers = NUMBER.findall(completion.replace(",", ""))
    if not numbers:
        return 0.0, "no_answer", {}
    got = float(numbers[-1])
    want = float(answer)
    tolerance = float(spec.get("tolerance", 1e-6))
    ok = abs(got - want) <= tolerance * max(1.0, abs(want))
    return (1.0 if ok else 0.0), ("correct" if ok else "incorrect"), {"extracted": numbers[-1]}


def make_servicer(pb2, pb2_grpc):
    class Servicer(pb2_grpc.VerifierServiceServicer):
        def Verify(self, request, context):
            response = pb2.VerifyResponse()
            for i, item in enumerate(request.items):
                result = response.results.add()
                result.id = item.id
                try:
                    spec = json.loads(item.spec_json) if item.spec_json else {}
                    if not isinstance(spec, dict):
                        raise ValueError("spec_json is not a JSON object")
                    score, verdict, details = grade(item.completion, item.answer, spec)
                except ValueError as e:
                    result.status_code = INVALID_ARGUMENT
                    result.status_message = "items[%d] (id '%s'): %s" % (i, item.id, e)
                    continue
                result.score = score
                result.verdict = verdict
                result.details_json = json.dumps(details)
            return response

    return Servicer()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gen-dir", required=True, help="directory with verifier_pb2*.py")
    parser.add_argument("--address", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    sys.path.insert(0, args.gen_dir)
    import verifier_pb2
    import verifier_pb2_grpc

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=args.workers))
    verifier_pb2_grpc.add_VerifierServiceServicer_to_server(
        make_servicer(verifier_pb2, verifier_pb2_grpc), server)
    port = server.add_insecure_port("%s:%d" % (args.address, args.port))
    if port == 0:
        sys.exit("cannot listen on %s:%d" % (args.address, args.port))
    server.start()
    print("PORT %d" % port, flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.stop(grace=2).wait()


if __name__ == "__main__":
    main()
