# ATTEMPT: leave a mark a later or concurrent program can read: lock and re-time the inherited standard descriptors and the root directory, set an xattr. ESCAPE IF: the host process dies, hangs, or cannot run the next program. [check=parent]
import os, fcntl
for fd in range(4):
    for f in (lambda: fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB), lambda: os.utime(fd, (1, 1)),
              lambda: os.setxattr(fd, "user.sbx", b"1"), lambda: os.utime("/", (1, 1))):
        try:
            f()
            print("marked", fd)
        except Exception as e:
            print("held", type(e).__name__)
