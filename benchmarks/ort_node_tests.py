"""Run ONNX's node test cases through onnxruntime's onnx.backend, the same BackendTest hetflow's suite uses.

Prints ORT's pass count over all CPU node cases, and over the cases left after hetflow's
category exclusions (types/control flow/strings/...; not the 'op not mapped' ones).
"""
import collections
import re
import sys
import unittest
import warnings

warnings.filterwarnings("ignore")
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1] / "tests" / "frontends" / "onnx"))
sys.argv = sys.argv[:1]
import onnx.backend.test  # noqa: E402
import onnxruntime.backend as ort_backend  # noqa: E402
import test_onnx_backend as hf_suite  # noqa: E402  (for its exclusion patterns and outcomes)

bt = onnx.backend.test.BackendTest(ort_backend, "ort_node")
bt.include(r"_cpu$")
cases = bt.test_cases["OnnxBackendNodeModelTest"]
suite = unittest.defaultTestLoader.loadTestsFromTestCase(cases)


class Recorder(unittest.TestResult):
    def __init__(self):
        super().__init__()
        self.outcome = {}

    def addSuccess(self, test):
        self.outcome[test._testMethodName] = "passed"

    def addFailure(self, test, err):
        self.outcome[test._testMethodName] = "failed"

    def addError(self, test, err):
        self.outcome[test._testMethodName] = "error"

    def addSkip(self, test, reason):
        self.outcome[test._testMethodName] = "skipped"


res = Recorder()
suite.run(res)
names = [n for n in res.outcome if n.endswith("_cpu")]
passed = [n for n in names if res.outcome[n] == "passed"]
categories = {p: r for p, r in hf_suite._EXCLUDED.items() if r not in ("op not mapped", "needs a download")}
kept = [n for n in names if not any(re.search(p, n) for p in categories)]
print(f"onnxruntime node tests: {len(passed)} passed of {len(names)}")
print(f"  after hetflow's category exclusions: {sum(res.outcome[n] == 'passed' for n in kept)} passed of {len(kept)}")
print("  outcomes:", collections.Counter(res.outcome[n] for n in names))
