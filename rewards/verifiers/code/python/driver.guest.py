# The trusted Python side of the sandbox, run once at boot (before the memory snapshot, so every run
# starts with it as it was then). It is exec'd into a private dict that no module and no global names;
# the host keeps the functions it defines by address and calls them through the C API.
#
# - `prepare(payload)`: compiles the model's code ("solution.py") and the tests ("tests.py"; every
#   comparison in them goes through `__assay_cmp__`, and a last line records the run's nonce), makes the
#   model's namespace, and returns the objects' addresses as JSON. Runs before any model code.
# - `seal()`: after the model's code loaded and before the tests run: puts back every module attribute,
#   sys.modules, sys.path, sys.meta_path, sys.path_hooks and the builtins as they were at boot (what the
#   model's code patched stays patched for its own functions' closures only through the objects it holds),
#   and builds the tests' namespace: the pristine builtins as globals first, then the model's names that
#   do not shadow them.
# - `describe(exc)`: an exception as JSON (type, message, line in solution.py/tests.py, exit code).
# - `flush()`: flushes the interpreter's own stdout and stderr (a stdin/stdout program's output).
# - `result(ns)`: what a python grader's `grade(sample, item)` returned (kept in the grader's namespace as
#   `__assay_ret__`), as JSON: a number, nan, an infinity, or the name of the type it was instead. It runs
#   no code of the returned object (no __float__, no __repr__, no metaclass attribute).
#
# A python grader run (`kind: "grade"`) compiles the user's source as "grader.py" in place of the model's
# code, and in place of tests a one-line call, `__assay_ret__ = grade(__assay_sample__, __assay_item__)`,
# run in the grader's own namespace (the grader is the user's code: there is nothing to seal it from; the
# model's output reaches it only as data, decoded by json). `kind: "check"` only compiles the source and
# looks for a top-level `grade` taking two positional arguments, for validation.
#
# `__assay_cmp__(a, op, b)` is ordinary comparison, except that when one side is plain data (built-in
# scalars and containers of them) and the other is not, only the plain side's own method decides: an
# object whose `__eq__` always answers True (the "AlwaysEqual" hack) compares unequal to every list,
# number and string.
HIDDEN_TOPS = ("js", "pyodide_js", "pyodide", "_pyodide", "_pyodide_core", "micropip", "socket", "selectors", "asyncio", "ssl", "_ssl", "socketserver")

def __assay_boot__(PRE_IMPORTS, DENIED):
    import sys, builtins, ast, json, gc, io, os, traceback
    hidden = []
    for name in PRE_IMPORTS:
        try:
            __import__(name)
        except Exception:
            pass
    for name in list(sys.modules):
        if name.split(".")[0] in DENIED:
            del sys.modules[name]

    # Pyodide's own modules (the JS bridge: JS objects, JS timers) stay loaded for the runtime but leave
    # the model's reach: out of sys.modules, out of the stdlib zip, and the js-module finder removed.
    # Modules that hold a denied builtin (socket holds _socket) go too, so importing them fails.
    for name in list(sys.modules):
        top = name.split(".")[0]
        if top in HIDDEN_TOPS:
            hidden.append(sys.modules.pop(name))
    sys.meta_path[:] = [f for f in sys.meta_path if "JsFinder" not in type(f).__name__]
    import zipfile, zipimport
    zpath = [p for p in sys.path if p.endswith(".zip")][0]
    with zipfile.ZipFile(zpath) as src:
        entries = [(i, src.read(i)) for i in src.infolist() if i.filename.split("/")[0] not in HIDDEN_TOPS]
    with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as dst:
        for info, data in entries:
            dst.writestr(info, data)
    zipimport._zip_directory_cache.clear()
    sys.path_importer_cache.clear()

    # Waiting calls return at once: Emscripten's sleep is a busy wait on the clock, which production
    # freezes, so it could only burn the run's fuel. Nothing else runs meanwhile, so nothing is missed.
    import time
    def sleep(secs, /):
        if not isinstance(secs, (int, float)):
            raise TypeError(f"'{type(secs).__name__}' object cannot be interpreted as an integer")
        if secs < 0:
            raise ValueError("sleep length must be non-negative")
    time.sleep = sleep

    PLAIN_SCALARS = frozenset([int, float, complex, bool, str, bytes, type(None), range, type(Ellipsis)])
    CONTAINERS = frozenset([list, tuple, set, frozenset, bytearray])
    _type, _len, _iter, _isinst, _dict_items = type, len, iter, isinstance, dict.items
    _NotImplemented = NotImplemented

    def plain(x, depth=0):
        t = _type(x)
        if t in PLAIN_SCALARS:
            return True
        if depth > 50:
            return False
        if t in CONTAINERS:
            for v in x:
                if not plain(v, depth + 1):
                    return False
            return True
        if t is dict:
            for k, v in _dict_items(x):
                if not plain(k, depth + 1) or not plain(v, depth + 1):
                    return False
            return True
        return False

    import operator
    OPS = {
        "==": ("__eq__", "__eq__", operator.eq),
        "!=": ("__ne__", "__ne__", operator.ne),
        "<": ("__lt__", "__gt__", operator.lt),
        "<=": ("__le__", "__ge__", operator.le),
        ">": ("__gt__", "__lt__", operator.gt),
        ">=": ("__ge__", "__le__", operator.ge),
    }

    def cmp(a, op, b):
        name, reflected, fn = OPS[op]
        pa = plain(a)
        pb = plain(b)
        if pa == pb:
            return fn(a, b)
        if pa:
            r = getattr(_type(a), name)(a, b)
        else:
            r = getattr(_type(b), reflected)(b, a)
        if r is _NotImplemented:
            if op == "==":
                return a is b
            if op == "!=":
                return a is not b
            raise TypeError("'%s' not supported between %s and %s" % (op, _type(a).__name__, _type(b).__name__))
        return r

    OP_TEXT = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}

    class Guard(ast.NodeTransformer):
        def visit_Compare(self, node):
            self.generic_visit(node)
            if not all(_type(o) in OP_TEXT for o in node.ops):
                return node
            # a < b < c becomes cmp(a,<,b) and cmp(b,<,c); middle operands are evaluated twice only when
            # chained, which test code does with plain values.
            parts = []
            left = node.left
            for op, right in zip(node.ops, node.comparators):
                parts.append(ast.Call(
                    func=ast.Name(id="__assay_cmp__", ctx=ast.Load()),
                    args=[left, ast.Constant(OP_TEXT[_type(op)]), right],
                    keywords=[],
                ))
                left = right
            out = parts[0] if len(parts) == 1 else ast.BoolOp(op=ast.And(), values=parts)
            return ast.copy_location(out, node)

    builtins_dict = builtins.__dict__
    PRISTINE_BUILTINS = dict(builtins_dict)
    PRISTINE_MODULES = dict(sys.modules)
    PRISTINE_DICTS = [(m.__dict__, dict(m.__dict__)) for m in PRISTINE_MODULES.values() if _isinst(getattr(m, "__dict__", None), dict)]
    PRISTINE_LISTS = [(lst, list(lst)) for lst in (sys.path, sys.meta_path, sys.path_hooks)]
    live = []

    def check_grader(source):
        try:
            compile(source, "grader.py", "exec", dont_inherit=True)
            tree = ast.parse(source, "grader.py")
        except BaseException as e:
            line = getattr(e, "lineno", None) if _isinst(e, SyntaxError) else None
            return {"message": describe_text(e), "line": line if _type(line) is int else None}
        grade = None
        for node in tree.body:
            if _type(node) is ast.FunctionDef and node.name == "grade":
                grade = node
            elif _type(node) in (ast.Assign, ast.AnnAssign, ast.ImportFrom, ast.Import, ast.ClassDef, ast.AsyncFunctionDef):
                names = []
                if _type(node) is ast.Assign:
                    names = [t.id for t in node.targets if _type(t) is ast.Name]
                elif _type(node) is ast.AnnAssign and _type(node.target) is ast.Name:
                    names = [node.target.id]
                elif _type(node) in (ast.ImportFrom, ast.Import):
                    names = [(a.asname or a.name).split(".")[0] for a in node.names]
                else:
                    names = [node.name]
                if "grade" in names:
                    grade = node
        if grade is None:
            return {"message": "the source defines no top-level function grade(sample, item)", "line": None}
        if _type(grade) is ast.AsyncFunctionDef:
            return {"message": "grade must be a plain function, not async", "line": grade.lineno}
        if _type(grade) is ast.FunctionDef:
            a = grade.args
            positional = len(a.posonlyargs) + len(a.args)
            required = positional - len(a.defaults)
            kwonly_required = [k for k, d in zip(a.kwonlyargs, a.kw_defaults) if d is None]
            if required > 2 or kwonly_required or (positional < 2 and a.vararg is None):
                return {"message": "grade must take two positional arguments, grade(sample, item)", "line": grade.lineno}
        return None

    def prepare(payload):
        live.clear()
        live.append(hidden)
        p = json.loads(payload)
        kind = p["kind"]
        if kind == "check":
            return json.dumps({"check": check_grader(p["code"])})
        out = {}
        try:
            code = compile(p["code"], "grader.py" if kind == "grade" else "solution.py", "exec", dont_inherit=True)
        except BaseException as e:
            out["loadError"] = describe_text(e)
            code = None
        ns = {"__name__": "__main__", "__builtins__": builtins}
        live.append(ns)
        out["ns"] = id(ns)
        if code is not None:
            live.append(code)
            out["code"] = id(code)
        if kind == "grade":
            ns["__assay_sample__"] = p["sample"]
            ns["__assay_item__"] = p["item"]
            call = compile("__assay_ret__ = grade(__assay_sample__, __assay_item__)", "<assay>", "exec", dont_inherit=True)
            live.append(call)
            out["tests"] = id(call)
        if kind == "tests":
            try:
                tree = ast.parse(p["tests"], "tests.py")
                tree = Guard().visit(tree)
                tree.body.append(ast.Assign(
                    targets=[ast.Name(id="__assay_done__", ctx=ast.Store())],
                    value=ast.Constant(p["nonce"]),
                ))
                ast.fix_missing_locations(tree)
                tests = compile(tree, "tests.py", "exec", dont_inherit=True)
                live.append(tests)
                out["tests"] = id(tests)
            except BaseException as e:
                out["testsError"] = describe_text(e)
        return json.dumps(out)

    def seal(ns_id_unused=None):
        graveyard = []
        for lst, saved in PRISTINE_LISTS:
            graveyard.append(list(lst))
            lst[:] = saved
        for d, saved in PRISTINE_DICTS:
            graveyard.append(d.copy())
            d.clear()
            d.update(saved)
        mods = sys.modules
        graveyard.append(mods.copy())
        mods.clear()
        mods.update(PRISTINE_MODULES)
        tns = dict(PRISTINE_BUILTINS)
        tns["__builtins__"] = dict(PRISTINE_BUILTINS)
        tns["__name__"] = "__main__"
        tns["__assay_cmp__"] = cmp
        live.append(graveyard)
        live.append(tns)
        return id(tns)

    def line_in(tb, filename):
        line = None
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == filename:
                line = tb.tb_lineno
            tb = tb.tb_next
        return line

    def describe_text(e):
        t = _type(e).__name__
        try:
            msg = str(e)
        except BaseException:
            msg = "?"
        if _isinst(e, SyntaxError) and e.lineno:
            return "%s: %s (%s, line %s)" % (t, e.msg, e.filename, e.lineno)
        return "%s: %s" % (t, msg) if msg else t

    def describe(e):
        out = {"type": _type(e).__name__, "text": describe_text(e)[:1000]}
        if _isinst(e, SystemExit):
            c = e.code
            out["exitCode"] = 0 if c is None else (c if _type(c) is int else 1)
        if _isinst(e, (RecursionError, MemoryError, AssertionError)):
            out["kind"] = _type(e).__name__
        tb = e.__traceback__
        for f in ("tests.py", "solution.py", "grader.py"):
            ln = line_in(tb, f)
            if ln is not None:
                out["at"] = "%s line %d" % (f, ln)
                break
        return json.dumps(out)

    _float = float
    _type_name = type.__dict__["__name__"].__get__
    _dict_get = dict.get

    def result(ns):
        v = _dict_get(ns, "__assay_ret__")
        t = _type(v)
        if t is int or t is bool:
            try:
                return json.dumps({"number": _float(v)})
            except OverflowError:
                return json.dumps({"inf": 1 if v > 0 else -1})
        if t is float:
            if v != v:
                return json.dumps({"nan": True})
            if v in (_float("inf"), _float("-inf")):
                return json.dumps({"inf": 1 if v > 0 else -1})
            return json.dumps({"number": v})
        return json.dumps({"type": _type_name(t)})

    stdout, stderr = sys.stdout, sys.stderr

    def flush():
        for f in (stdout, stderr):
            try:
                f.flush()
            except BaseException:
                pass

    return prepare, seal, describe, flush, result
