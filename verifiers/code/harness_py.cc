// The Python test harness, run by the sandboxed python3 as `harness.py MODE` in the
// working directory next to solution.py and rlvr_spec.json.
//
// Modes: "stdio" runs solution.py as __main__ (a MemoryError is reported as "memory" on
// fd 3). "assert" and "call" read a nonce from the first stdin line, then write on fd 3:
//   <nonce> count N            before any model code runs
//   <nonce> test I VERDICT CPU_S [JSON]   per test, after it ran (JSON: call results)
//   <nonce> done               after every test ran: the sentinel
// A program that exits (sys.exit, os._exit) or dies before the sentinel fails every test
// it did not finish. Each test runs under its own CPU-time limit (ITIMER_PROF) and a
// wall-clock limit (ITIMER_REAL) that is extended while the process is starved by load.
#include "verifiers/code/harness.h"

namespace rlvr::code {

const char kPythonHarness[] = R"PY(
import sys, os


def _rlvr_main():
    import json, signal, time, ast, copy, traceback
    mode = sys.argv[1]
    with open("rlvr_spec.json") as f:
        spec = json.load(f)
    with open("solution.py") as f:
        src = f.read()

    if mode == "stdio":
        sys.argv = ["solution.py"]
        g = {"__name__": "__main__", "__file__": "solution.py", "__builtins__": __builtins__}
        try:
            code = compile(src, "solution.py", "exec")
            exec(code, g)
        except MemoryError:
            os.write(3, b"memory\n")
            raise
        return

    nonce = sys.stdin.readline().strip()
    fd = os.open(os.devnull, os.O_RDONLY)
    os.dup2(fd, 0)
    os.close(fd)
    sys.stdin = open(os.devnull)
    write = os.write

    def report(*fields):
        write(3, (" ".join([nonce] + [str(x) for x in fields]) + "\n").encode())

    cpu_limit = float(spec["cpu_s"])
    wall_limit = float(spec["wall_s"])

    class _Timeout(BaseException):
        pass

    state = {"start": 0.0, "cpu0": 0.0}

    def on_prof(signum, frame):
        raise _Timeout()

    def on_alarm(signum, frame):
        # Starved by load (ran or waited to run most of the time) and under the CPU
        # limit: not late, extend. Sleeping programs are not extended.
        elapsed = time.monotonic() - state["start"]
        try:
            with open("/proc/self/schedstat") as f:
                run_ns, wait_ns = [int(x) for x in f.read().split()[:2]]
        except Exception:
            run_ns, wait_ns = 0, 0
        used = time.process_time() - state["cpu0"]
        if used < cpu_limit and (run_ns + wait_ns) * 1e-9 > 0.5 * elapsed and elapsed < 10 * wall_limit:
            signal.setitimer(signal.ITIMER_REAL, 0.25)
            return
        raise _Timeout()

    signal.signal(signal.SIGPROF, on_prof)
    signal.signal(signal.SIGALRM, on_alarm)

    def disarm():
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.setitimer(signal.ITIMER_REAL, 0)

    def run_one(fn):
        state["start"] = time.monotonic()
        state["cpu0"] = t0 = time.process_time()
        verdict = "runtime_error"
        try:
            try:
                signal.setitimer(signal.ITIMER_PROF, cpu_limit, 0.1)
                signal.setitimer(signal.ITIMER_REAL, wall_limit)
                fn()
                verdict = "passed"
            finally:
                disarm()
        except _Timeout:
            verdict = "timeout"
        except AssertionError:
            verdict = "wrong_answer"
        except MemoryError:
            verdict = "memory_limit"
        except BaseException:
            verdict = "runtime_error"
        disarm()
        used = max(0.0, time.process_time() - t0)
        # The kernel's ITIMER_PROF accounting said the limit was reached.
        return verdict, max(used, cpu_limit) if verdict == "timeout" else used

    def guarded(fn):
        try:
            return run_one(fn)
        except _Timeout:
            disarm()
            return "timeout", cpu_limit

    g = {"__name__": "__rlvr_solution__", "__builtins__": __builtins__}

    if mode == "assert":
        test_src = spec["code"]
        entry = spec.get("entry_point") or ""
        try:
            tree = ast.parse(test_src, "tests.py")
        except SyntaxError as e:
            report("bad_tests", json.dumps("SyntaxError in tests.code: %s (line %s)" % (e.msg, e.lineno)))
            return
        units = []  # (is_test, code object)
        if entry:
            checker = compile(tree, "tests.py", "exec")
            def unit():
                exec(checker, g)
                g["check"](g[entry])
            units.append((True, unit))
        else:
            asserts = [n for n in tree.body if isinstance(n, ast.Assert)]
            if not asserts:
                whole = compile(tree, "tests.py", "exec")
                units.append((True, lambda: exec(whole, g)))
            else:
                for node in tree.body:
                    c = compile(ast.Module(body=[node], type_ignores=[]), "tests.py", "exec")
                    units.append((isinstance(node, ast.Assert), (lambda c=c: exec(c, g))))
        n = sum(1 for is_test, _ in units if is_test)
    else:
        fn_name = spec["fn"]
        cases = spec["cases"]
        units = []
        results = {}
        for i, case in enumerate(cases):
            args = case.get("args", [])
            def unit(i=i, args=args):
                results[i] = g[fn_name](*copy.deepcopy(args))
            units.append((True, unit))
        n = len(units)

    report("count", n)
    try:
        program = compile(src, "solution.py", "exec")
        program_verdict, _ = guarded(lambda: exec(program, g))
    except BaseException:
        program_verdict = "runtime_error"
    i = 0
    setup_failed = None
    for is_test, fn in units:
        if program_verdict != "passed":
            verdict, cpu = program_verdict, 0.0
        elif setup_failed:
            verdict, cpu = setup_failed, 0.0
        else:
            verdict, cpu = guarded(fn)
        if not is_test:
            if verdict != "passed":
                setup_failed = verdict if verdict != "wrong_answer" else "runtime_error"
            continue
        if mode == "call" and verdict == "passed":
            try:
                out = json.dumps(results.get(i), allow_nan=False, default=_rlvr_jsonable)
                report("test", i, "returned", "%.6f" % cpu, out)
            except Exception:
                report("test", i, "wrong_answer", "%.6f" % cpu)
        else:
            report("test", i, verdict, "%.6f" % cpu)
        i += 1
    report("done")
    sys.stdout.flush()
    sys.stderr.flush()


def _rlvr_jsonable(x):
    if isinstance(x, (set, frozenset)):
        return sorted(x, key=repr)
    raise TypeError("not JSON serialisable: %s" % type(x).__name__)


if __name__ == "__main__":
    if sys.argv[1] == "stdio":
        _rlvr_main()
    else:
        try:
            _rlvr_main()
        except BaseException:
            import traceback
            traceback.print_exc()
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(0)
)PY";

}  // namespace rlvr::code
