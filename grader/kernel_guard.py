"""Trusted code the grader injects into the student's kernel.

``snapshot()`` runs in the first cell, before any student code; ``restore()`` runs in a
cell of its own right before every test cell.  Between the two, student code may have
replaced assert helpers, numpy.testing, lstm_ref's checkers, builtins, ``sys.exit``,
IPython's ``showtraceback``, input/AST transformers or event callbacks; ``restore()``
puts back every object the snapshot recorded, so the test runs against the originals.

``restore()`` also puts back the numerical settings of the last clean state (NumPy's
error state and global RNG, the warning filters, torch's default dtype, grad mode,
threads and RNG), so a learner's leftover ``np.seterr(all="raise")`` or
``torch.set_grad_enabled(False)`` cannot change what a test computes.  ``clean()`` puts
them back before each locked setup cell, and ``record()`` takes the state that cell left
as the new clean state (``torch.set_default_dtype(torch.float64)`` in a setup cell stays).

The test's verdict is :func:`passed`, called by the test cell's last line with a per-run
token: it publishes a ``display_data`` message of its own MIME type, which the grader
reads as a structured result (a printed line could be split or interleaved with other
output).  The publisher is captured at snapshot time.

This file is read as text and executed inside the kernel (it is not imported there), so
it may only use the standard library.  It is a second line of defence: the grader also
refuses a test's points unless the test cell published its per-run token, which it only
reaches when every assertion before it passed.
"""
import builtins
import importlib
import sys
import types
import warnings

VERDICT_MIME = "application/vnd.lstm-grader.verdict+json"

_STATE: dict = {}
_MISSING = object()


def _is_python_function(value) -> bool:
    return isinstance(value, types.FunctionType)


def _snap_namespace(ns: dict) -> dict:
    return dict(ns)


def _snap_functions(ns: dict) -> dict:
    """Code, defaults and closure-free state of the pure-Python functions in ``ns``."""
    out = {}
    for value in list(ns.values()):
        if _is_python_function(value):
            out[id(value)] = (value, value.__code__, value.__defaults__, value.__kwdefaults__, _cells(value))
        elif isinstance(value, type) and value.__module__ == ns.get("__name__"):
            out[id(value)] = (value, dict(vars(value)))
            for attr in list(vars(value).values()):  # methods: a swapped __code__ (the tripwire's)
                fn = getattr(attr, "__func__", attr)  # classmethod, staticmethod
                if _is_python_function(fn):
                    out[id(fn)] = (fn, fn.__code__, fn.__defaults__, fn.__kwdefaults__, _cells(fn))
    return out


def _cells(fn) -> list:
    """What a function's closure cells hold (a wrapper's wrapped check, say)."""
    out = []
    for cell in fn.__closure__ or ():
        try:
            out.append((cell, cell.cell_contents))
        except ValueError:  # an empty cell
            pass
    return out


def _protected(prefixes) -> dict:
    return {name: m for name, m in list(sys.modules.items())
            if isinstance(m, types.ModuleType) and any(name == p or name.startswith(p + ".") for p in prefixes)}


def snapshot(modules, fresh=()) -> None:
    """Record the pristine state of builtins, sys, os, IPython and the packages of ``modules``.

    ``modules`` are imported first (dotted names: lazily loaded submodules such as
    numpy.testing must exist to be recorded).  Modules of the ``fresh`` packages that get
    imported later are dropped from ``sys.modules`` by :func:`restore`.
    """
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # a module the course does not have; nothing to protect
            pass
    prefixes = sorted({name.split(".")[0] for name in modules})
    ip = get_ipython()  # noqa: F821 (IPython puts it in builtins)
    mods = _protected(list(prefixes) + ["builtins", "sys", "os", "numpy.testing", "unittest"])
    _STATE["modules"] = [(m, _snap_namespace(vars(m)), _snap_functions(vars(m))) for m in mods.values()]
    _STATE["fresh"] = list(fresh)
    _STATE["sys.modules"] = mods
    classes = [c for c in type(ip).__mro__ if c is not object]
    if getattr(ip, "kernel", None) is not None:
        classes += [c for c in type(ip.kernel).__mro__ if c is not object]
        _STATE["kernel"] = (ip.kernel, dict(vars(ip.kernel)))
    _STATE["classes"] = [(c, dict(vars(c))) for c in classes]
    _STATE["shell"] = (ip, dict(vars(ip)))
    manager = ip.input_transformer_manager
    _STATE["lists"] = [(ip, "input_transformers_post", list(ip.input_transformers_post)),
                       (ip, "ast_transformers", list(ip.ast_transformers)),
                       (manager, "cleanup_transforms", list(manager.cleanup_transforms)),
                       (manager, "line_transforms", list(manager.line_transforms)),
                       (manager, "token_transformers", list(manager.token_transformers))]
    _STATE["manager"] = (ip, manager)
    _STATE["events"] = {k: list(v) for k, v in ip.events.callbacks.items()}
    _STATE["hooks"] = (sys.gettrace(), sys.getprofile())
    _STATE["user"] = {}
    _STATE["publish"] = (ip.display_pub, type(ip.display_pub).publish)
    _STATE["settings"] = _settings()


def _settings() -> dict:
    """The process-wide numerical settings a test's result can depend on."""
    out = {"warnings": list(warnings.filters)}
    np = sys.modules.get("numpy")
    if np is not None:
        out["numpy"] = (np.geterr(), np.random.get_state())
    torch = sys.modules.get("torch")
    if torch is not None:
        out["torch"] = (torch.get_default_dtype(), torch.is_grad_enabled(), torch.get_num_threads(),
                        torch.random.get_rng_state(), torch.is_anomaly_enabled())
    return out


def _apply_settings(saved: dict) -> None:
    warnings.filters[:] = saved["warnings"]
    getattr(warnings, "_filters_mutated", lambda: None)()  # drop cached decisions (CPython 3.11)
    np = sys.modules.get("numpy")
    if np is not None and "numpy" in saved:
        err, rng = saved["numpy"]
        np.seterr(**err)
        np.random.set_state(rng)
    torch = sys.modules.get("torch")
    if torch is not None and "torch" in saved:
        dtype, grad, threads, rng, anomaly = saved["torch"]
        torch.set_default_dtype(dtype)
        torch.set_grad_enabled(grad)
        if torch.get_num_threads() != threads:  # costly to set: only when changed
            torch.set_num_threads(threads)
        torch.random.set_rng_state(rng)
        if torch.is_anomaly_enabled() != anomaly:
            torch.set_anomaly_enabled(anomaly)


def clean() -> None:
    """Before a locked setup cell: the clean settings, whatever student cells changed."""
    _apply_settings(_STATE["settings"])


def passed(token) -> None:
    """The test cell's verdict: it ran to its last line (see grader.execute)."""
    pub, publish = _STATE["publish"]
    publish(pub, data={VERDICT_MIME: {"token": token}}, metadata={})


def record(names) -> None:
    """Remember what the instructor's locked setup cell bound to ``names``."""
    ns = get_ipython().user_ns  # noqa: F821
    _STATE["user"].update({n: ns[n] for n in names if n in ns})
    _STATE["settings"] = _settings()


def _restore_dict(target_set, current: dict, saved: dict, drop_new: bool) -> None:
    for key, value in saved.items():
        if current.get(key, _MISSING) is not value:
            target_set(key, value)
    if drop_new:
        for key in [k for k in current if k not in saved]:
            try:
                target_set(key, _MISSING)
            except (AttributeError, TypeError):
                pass


def _setter(obj):
    def set_(key, value):
        if value is _MISSING:
            delattr(obj, key)
        else:
            setattr(obj, key, value)
    return set_


def restore() -> None:
    """Put back everything :func:`snapshot` and :func:`record` saw."""
    sys.settrace(None)
    sys.setprofile(None)
    for module, names, funcs in _STATE["modules"]:
        _restore_dict(_setter(module), vars(module), names, drop_new=module is builtins)
        for saved in funcs.values():
            if len(saved) == 5:
                fn, code, defaults, kwdefaults, cells = saved
                fn.__code__, fn.__defaults__, fn.__kwdefaults__ = code, defaults, kwdefaults
                for cell, value in cells:
                    cell.cell_contents = value
            else:
                cls, attrs = saved
                _restore_dict(_setter(cls), dict(vars(cls)), attrs, drop_new=False)
    saved_modules = _STATE["sys.modules"]
    for name, module in saved_modules.items():
        if sys.modules.get(name) is not module:
            sys.modules[name] = module  # a module object replaced by the student
    for name in [n for n in list(sys.modules) if any(n == p or n.startswith(p + ".") for p in _STATE["fresh"])]:
        if name not in saved_modules:
            del sys.modules[name]  # loaded after the student ran: the test imports it afresh
    for cls, attrs in _STATE["classes"]:
        _restore_dict(_setter(cls), dict(vars(cls)), attrs, drop_new=True)
    for obj_key in ("shell", "kernel"):
        if obj_key in _STATE:
            obj, attrs = _STATE[obj_key]
            current = vars(obj)
            for key in [k for k in current if k not in attrs and callable(current[k])]:
                del current[key]  # e.g. an instance-level showtraceback or run_cell
            for key, value in attrs.items():
                if current.get(key, _MISSING) is not value and callable(value):
                    current[key] = value
    ip = get_ipython()  # noqa: F821
    shell, manager = _STATE["manager"]
    shell.input_transformer_manager = manager
    for owner, name, saved in _STATE["lists"]:
        setattr(owner, name, list(saved))
    for event, callbacks in _STATE["events"].items():
        ip.events.callbacks[event] = list(callbacks)
    ip.custom_exceptions = ()
    ip.user_ns.update(_STATE["user"])
    _apply_settings(_STATE["settings"])
    trace, profile = _STATE["hooks"]
    sys.settrace(trace)
    sys.setprofile(profile)
