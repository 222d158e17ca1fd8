"""The device conformance suite: every driver must pass it unchanged.

Use it by subclassing with a fixture that opens a fresh device of your driver:

    from devices.conformance import DeviceConformance

    class TestMyDriver(DeviceConformance):
        @pytest.fixture
        def open_device(self):
            return lambda: hetflow.devices.open_device("host/cpu", driver="my_backend")

Programs are IR graphs built here; their results are compared with the reference backend's.
A driver whose chip computes in another dtype overrides ``dtype`` (and the tolerances).
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from hetflow.backends.reference import ReferenceBackend
from hetflow.devices import Buffer, Device, DeviceError, Program, RunStatus
from hetflow.ir import Graph

TIME_SOURCE = re.compile(r"^(measured|model:[\w.+-]+)$")


class DeviceConformance:
    """The suite. Subclasses provide the ``open_device`` fixture: a callable returning a new open Device."""

    dtype = "float32"
    rtol = 1e-5
    atol = 1e-5
    heavy_n = 256
    """Size of the square matmuls in ``heavy``: a few milliseconds per run, so that runs queue up."""

    @pytest.fixture
    def open_device(self) -> Callable[[], Device]:
        raise NotImplementedError("a conformance subclass provides the open_device fixture")

    @pytest.fixture
    def device(self, open_device: Callable[[], Device]) -> Iterator[Device]:
        dev = open_device()
        yield dev
        dev.close()

    # ------------------------------------------------------------ programs
    def mlp(self) -> Graph:
        """x[N,8] -> matmul -> add bias -> relu -> matmul: a symbolic batch and constants."""
        rng = np.random.default_rng(0)
        g = Graph("mlp")
        x = g.add_input("x", self.dtype, ("N", 8))
        w1 = g.constant(self._data(rng, (8, 16)), "w1")
        b1 = g.constant(self._data(rng, (16,)), "b1")
        w2 = g.constant(self._data(rng, (16, 4)), "w2")
        h = g.add_node("matmul", [x, w1]).outputs[0]
        h = g.add_node("add", [h, b1]).outputs[0]
        h = g.add_node("relu", [h]).outputs[0]
        g.outputs = [g.add_node("matmul", [h, w2], output_names=["y"]).outputs[0]]
        return g

    def heavy(self, depth: int = 6) -> Graph:
        """A chain of square matmuls: long enough that runs queue up behind each other."""
        n = self.heavy_n
        g = Graph("heavy")
        h = g.add_input("x", self.dtype, (n, n))
        w = g.constant((np.eye(n) * 0.5).astype(self.dtype), "w")
        for _ in range(depth):
            h = g.add_node("matmul", [h, w]).outputs[0]
        g.outputs = [h]
        return g

    def two_outputs(self) -> Graph:
        """y = relu(a) + b and z = a passed through unchanged (an output that is an input's value)."""
        g = Graph("two_outputs")
        a = g.add_input("a", self.dtype, (3, 5))
        b = g.add_input("b", self.dtype, (3, 5))
        r = g.add_node("relu", [a]).outputs[0]
        y = g.add_node("add", [r, b], output_names=["y"]).outputs[0]
        z = g.add_node("identity", [a], output_names=["z"]).outputs[0]
        g.outputs = [y, z]
        return g

    def mismatched(self) -> Graph:
        """a[N,4] + b[M,4]: fine to load, fails at run time when N != M (neither is 1)."""
        g = Graph("mismatched")
        a = g.add_input("a", self.dtype, ("N", 4))
        b = g.add_input("b", self.dtype, ("M", 4))
        g.outputs = [g.add_node("add", [a, b], output_names=["s"]).outputs[0]]
        return g

    def _data(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        if np.dtype(self.dtype).kind == "f":
            return rng.standard_normal(shape).astype(self.dtype)
        return rng.integers(-3, 4, shape).astype(self.dtype)

    def _put(self, dev: Device, array: np.ndarray) -> Buffer:
        buf = dev.alloc((array.shape, array.dtype))
        dev.write(buf, array)
        return buf

    def _expect(self, graph: Graph, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return ReferenceBackend().compile(graph).run(feeds)

    def _assert_close(self, got: np.ndarray, want: np.ndarray) -> None:
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=self.rtol, atol=self.atol)

    # ------------------------------------------------------------ open and info
    def test_is_a_device_with_an_id_and_description(self, device: Device) -> None:
        assert isinstance(device, Device)
        assert device.id and device.description.name
        info = device.info()
        assert (info.id, info.description, info.state) == (device.id, device.description, "open")
        assert TIME_SOURCE.match(info.time_source)
        assert info.memory_free > 0

    def test_info_tracks_buffers_and_memory(self, device: Device) -> None:
        before = device.info()
        buf = device.alloc(((64, 64), "float32"))
        during = device.info()
        assert during.buffers == before.buffers + 1
        assert during.memory_used == before.memory_used + 64 * 64 * 4
        device.free(buf)
        assert device.info().memory_used == before.memory_used
        with pytest.raises(DeviceError):
            device.read(buf)

    # ------------------------------------------------------------ buffers
    @pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "int8", "int32", "int64", "uint8", "bool"])
    def test_typed_round_trip(self, device: Device, dtype: str) -> None:
        array = (np.arange(24).reshape(2, 3, 4) % 7).astype(dtype)
        buf = device.alloc((array.shape, dtype))
        assert (buf.nbytes, buf.shape) == (array.nbytes, array.shape)
        device.write(buf, array)
        back = device.read(buf)
        assert back.dtype == array.dtype and back.shape == array.shape
        np.testing.assert_array_equal(back, array)

    def test_raw_round_trip(self, device: Device) -> None:
        array = np.arange(10, dtype=np.int32)
        buf = device.alloc(40)
        assert buf.nbytes == 40 and buf.dtype is None
        device.write(buf, array)
        np.testing.assert_array_equal(device.read(buf).view(np.int32), array)

    def test_read_returns_a_copy(self, device: Device) -> None:
        buf = self._put(device, np.ones(4, np.float32))
        device.read(buf)[:] = 7
        np.testing.assert_array_equal(device.read(buf), np.ones(4, np.float32))

    def test_write_checks_dtype_shape_and_size(self, device: Device) -> None:
        typed = device.alloc(((2, 2), "float32"))
        for bad in (np.ones((2, 2), np.float64), np.ones((4,), np.float32)):
            with pytest.raises(DeviceError) as err:
                device.write(typed, bad)
            assert err.value.stage == "write" and err.value.device == device.id
        with pytest.raises(DeviceError):
            device.write(device.alloc(8), np.ones(3, np.float32))

    def test_alloc_rejects_bad_specs_and_overcommit(self, device: Device) -> None:
        for spec in [(("N", 3), "float32"), ((2,), "no-such-dtype"), -1]:
            with pytest.raises(DeviceError) as err:
                device.alloc(spec)
            assert err.value.stage == "alloc"
        with pytest.raises(DeviceError, match="out of device memory"):
            device.alloc(device.description.memory.capacity + 1)
        assert device.alloc(16).nbytes == 16  # still usable

    def test_allocations_are_counted(self, device: Device) -> None:
        program = device.load(self.mlp())
        before = device.stats().allocations
        device.alloc(16)
        x = self._put(device, np.ones((2, 8), self.dtype))
        device.launch(program, {"x": x}).wait(30)  # its output was not bound: the device allocated it
        assert device.stats().allocations == before + 3
        y = device.alloc(((2, 4), self.dtype))
        device.launch(program, {"x": x, "y": y}).wait(30)  # bound: nothing more
        assert device.stats().allocations == before + 4

    def test_copy_to_another_device(self, device: Device, open_device: Callable[[], Device]) -> None:
        other = open_device()
        try:
            x = self._data(np.random.default_rng(5), (3, 5))
            src = self._put(device, x)
            dst = other.alloc((x.shape, x.dtype))
            before = device.stats()
            if device.copy_to_peer(src, other, dst):  # a direct path: counted as sent to a peer, not read
                after = device.stats()
                assert (after.bytes_peer - before.bytes_peer, after.bytes_out) == (x.nbytes, before.bytes_out)
                with pytest.raises(DeviceError) as err:
                    device.copy_to_peer(src, other, other.alloc(((5, 3), x.dtype)))
                assert err.value.stage == "copy"
            else:  # none: the caller stages it through the host
                other.write(dst, device.read(src))
            np.testing.assert_array_equal(other.read(dst), x)
        finally:
            other.close()

    # ------------------------------------------------------------ programs
    def test_launch_matches_reference(self, device: Device) -> None:
        g = self.mlp()
        program = device.load(g)
        assert isinstance(program, Program)
        assert [p.name for p in program.inputs] == ["x"] and [p.name for p in program.outputs] == ["y"]
        rng = np.random.default_rng(1)
        for batch in (1, 5):  # one program, two sizes of the symbolic batch
            x = self._data(rng, (batch, 8))
            outs = device.launch(program, {"x": self._put(device, x)}).wait(30)
            self._assert_close(device.read(outs["y"]), self._expect(g, {"x": x})["y"])

    def test_outputs_into_bound_buffers(self, device: Device) -> None:
        g = self.two_outputs()
        program = device.load(g)
        rng = np.random.default_rng(2)
        a, b = self._data(rng, (3, 5)), self._data(rng, (3, 5))
        y = device.alloc(((3, 5), self.dtype))
        outs = device.launch(program, {"a": self._put(device, a), "b": self._put(device, b), "y": y}).wait(30)
        assert outs["y"] is y
        want = self._expect(g, {"a": a, "b": b})
        self._assert_close(device.read(y), want["y"])
        self._assert_close(device.read(outs["z"]), want["z"])

    def test_an_output_never_aliases_an_input(self, device: Device) -> None:
        program = device.load(self.two_outputs())
        a = np.ones((3, 5), self.dtype)
        abuf = self._put(device, a)
        outs = device.launch(program, {"a": abuf, "b": self._put(device, a)}).wait(30)
        device.write(abuf, np.zeros((3, 5), self.dtype))
        np.testing.assert_array_equal(device.read(outs["z"]), a)

    def test_a_raw_buffer_feeds_a_static_port(self, device: Device) -> None:
        g = self.two_outputs()
        program = device.load(g)
        a = np.arange(15).reshape(3, 5).astype(self.dtype)
        raw = device.alloc(a.nbytes)
        device.write(raw, a)
        outs = device.launch(program, {"a": raw, "b": self._put(device, a)}).wait(30)
        self._assert_close(device.read(outs["y"]), self._expect(g, {"a": a, "b": a})["y"])

    def test_stats_count_launches_bytes_and_time(self, device: Device) -> None:
        program = device.load(self.mlp())
        start = device.stats()
        x = np.ones((4, 8), self.dtype)
        buf = device.alloc((x.shape, x.dtype))
        for _ in range(3):
            device.write(buf, x)
            outs = device.launch(program, {"x": buf}).wait(30)
            device.read(outs["y"])
        s = device.stats()
        assert s.launches - start.launches == 3 and s.completed - start.completed == 3 and s.failed == start.failed
        assert s.bytes_in - start.bytes_in == 3 * x.nbytes
        assert s.bytes_out - start.bytes_out == 3 * 4 * 4 * np.dtype(self.dtype).itemsize
        assert TIME_SOURCE.match(s.time_source) and s.busy_s > start.busy_s
        assert 0.0 <= s.utilization <= 1.0 and s.elapsed_s > 0

    def test_runs_are_asynchronous_and_in_order(self, device: Device) -> None:
        g = self.heavy()
        program = device.load(g)
        x = self._data(np.random.default_rng(3), (self.heavy_n, self.heavy_n))
        buf = self._put(device, x)
        runs = [device.launch(program, {"x": buf}) for _ in range(4)]
        assert all(r.status() in set(RunStatus) for r in runs)
        assert runs[-1].status() in (RunStatus.QUEUED, RunStatus.RUNNING)  # launch returned before the work was done
        want = self._expect(g, {"x": x})[g.outputs[0].name]
        last = device.read(runs[-1].wait(60)[g.outputs[0].name])
        assert all(r.status() is RunStatus.DONE for r in runs)  # in order: the earlier runs finished first
        self._assert_close(last, want)
        assert all(r.busy_s is not None and r.busy_s >= 0 and TIME_SOURCE.match(r.time_source) for r in runs)

    def test_read_waits_for_the_run_that_writes_the_buffer(self, device: Device) -> None:
        g = self.heavy()
        program = device.load(g)
        x = self._data(np.random.default_rng(4), (self.heavy_n, self.heavy_n))
        out = device.alloc(((self.heavy_n, self.heavy_n), self.dtype))
        runs = [device.launch(program, {"x": self._put(device, x), g.outputs[0].name: out}) for _ in range(3)]
        self._assert_close(device.read(out), self._expect(g, {"x": x})[g.outputs[0].name])
        assert all(r.done() for r in runs)

    def test_timeout_leaves_the_run_going_and_the_device_usable(self, device: Device) -> None:
        program = device.load(self.heavy())
        buf = self._put(device, np.ones((self.heavy_n, self.heavy_n), self.dtype))
        runs = [device.launch(program, {"x": buf}) for _ in range(4)]
        with pytest.raises(DeviceError) as err:
            runs[-1].wait(timeout=0)
        e = err.value
        assert (e.stage, e.device, e.program) == ("timeout", device.id, "heavy")
        assert runs[-1].wait(60)  # the run went on
        assert device.launch(program, {"x": buf}).wait(60)

    def test_cancel_drops_a_queued_run(self, device: Device) -> None:
        program = device.load(self.heavy())
        buf = self._put(device, np.ones((self.heavy_n, self.heavy_n), self.dtype))
        runs = [device.launch(program, {"x": buf}) for _ in range(4)]
        if runs[-1].cancel():
            assert runs[-1].status() is RunStatus.FAILED
            with pytest.raises(DeviceError, match="cancelled"):
                runs[-1].wait(60)
        assert runs[-2].wait(60)
        assert not runs[-2].cancel()  # a finished run cannot be cancelled

    # ------------------------------------------------------------ errors
    def test_a_failing_program_raises_device_error_and_the_device_recovers(self, device: Device) -> None:
        before = device.stats()
        with pytest.raises(DeviceError) as err:
            program = device.load(self.mismatched())
            a, b = np.ones((2, 4), self.dtype), np.ones((3, 4), self.dtype)
            run = device.launch(program, {"a": self._put(device, a), "b": self._put(device, b)})
            try:
                run.wait(30)
            finally:
                assert run.status() is RunStatus.FAILED
        e = err.value
        assert e.device == device.id and e.program == "mismatched" and e.cause
        assert "\n" not in str(e) and device.id in str(e) and "mismatched" in str(e)
        assert device.stats().failed == before.failed + 1
        self.test_launch_matches_reference(device)  # a later launch works

    def test_a_bad_artifact_raises_device_error_at_load(self, device: Device) -> None:
        g = self.mlp()
        g.nodes[0].op = "no_such_op"
        for artifact in (g, object()):
            with pytest.raises(DeviceError) as err:
                device.load(artifact, name="broken")
            assert (err.value.device, err.value.program, err.value.stage) == (device.id, "broken", "load")
        self.test_launch_matches_reference(device)

    def test_bad_bindings_raise_device_error_at_launch(self, device: Device, open_device: Callable[[], Device]) -> None:
        program = device.load(self.two_outputs())
        good = self._put(device, np.ones((3, 5), self.dtype))
        other = open_device()
        try:
            foreign = self._put(other, np.ones((3, 5), self.dtype))
            cases = [
                {"a": good},  # b missing
                {"a": good, "b": good, "nope": good},  # unknown name
                {"a": good, "b": self._put(device, np.ones((3, 4), self.dtype))},  # wrong shape
                {"a": good, "b": self._put(device, np.ones((3, 5), np.int16 if self.dtype != "int16" else np.int32))},
                {"a": good, "b": foreign},  # another device's buffer
            ]
            for bindings in cases:
                with pytest.raises(DeviceError) as err:
                    device.launch(program, bindings).wait(30)
                assert (err.value.device, err.value.program) == (device.id, "two_outputs")
            with pytest.raises(DeviceError):
                other.launch(program, {"a": foreign, "b": foreign})  # a program of another device
        finally:
            other.close()
        assert device.launch(program, {"a": good, "b": good}).wait(30)

    def test_device_error_crosses_process_boundaries(self, device: Device) -> None:
        with pytest.raises(DeviceError) as err:
            device.load(object(), name="p")
        copy = pickle.loads(pickle.dumps(err.value))
        assert (copy.device, copy.program, copy.stage, copy.cause, str(copy)) == (
            err.value.device, err.value.program, err.value.stage, err.value.cause, str(err.value))

    # ------------------------------------------------------------ close
    def test_close(self, open_device: Callable[[], Device]) -> None:
        dev = open_device()
        program = dev.load(self.heavy())
        buf = self._put(dev, np.ones((self.heavy_n, self.heavy_n), self.dtype))
        runs = [dev.launch(program, {"x": buf}) for _ in range(3)]
        dev.close()
        dev.close()  # twice is harmless
        assert dev.info().state == "closed"
        for run in runs:  # every run ended: finished, or failed as cancelled by the close
            assert run.done()
        for action in (lambda: dev.alloc(8), lambda: dev.read(buf), lambda: dev.launch(program, {"x": buf}),
                       lambda: dev.load(self.mlp())):
            with pytest.raises(DeviceError) as err:
                action()
            assert err.value.stage == "closed"
