# ATTEMPT: change the scheduling of the server, the zygote and the caller for good (affinity, niceness, scheduler class, I/O priority) to slow every later program. ESCAPE IF: the host process dies, hangs, or cannot run the next program. [check=parent]
import os, ctypes
for target in (os.getppid(), os.getpgrp(), 0):
    for f in (lambda: os.sched_setaffinity(target, {0}), lambda: os.setpriority(os.PRIO_PROCESS, target, 19),
              lambda: os.sched_setscheduler(target, os.SCHED_IDLE, os.sched_param(0)),
              lambda: ctypes.CDLL(None).syscall(251, 1, target, (3 << 13) | 7)):
        try:
            print("changed", f())
        except Exception as e:
            print("held", type(e).__name__)
