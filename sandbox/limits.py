"""What a request may be: checked in the caller before anything reaches a server."""
from __future__ import annotations

from sandbox.result import Result

MAX_CODE_BYTES = 1 << 20


def refuse(code) -> Result | None:
    if not isinstance(code, str):
        raise TypeError(f"a program must be a str, not {type(code).__name__}")
    size = len(code.encode("utf-8", errors="surrogatepass"))
    if size > MAX_CODE_BYTES:
        return Result("blocked", error=f"program is {size} bytes; the limit is {MAX_CODE_BYTES}",
                      error_type="TooLarge")
    if "\x00" in code:
        return Result("error", error="SyntaxError: source code cannot contain null bytes",
                      error_type="SyntaxError")
    try:
        code.encode("utf-8")
    except UnicodeEncodeError:
        return Result("error", error="SyntaxError: program is not valid UTF-8 (lone surrogate)",
                      error_type="SyntaxError")
    return None


def check_limits(timeout_s, memory_mb, max_output_bytes, stdin) -> None:
    if not (isinstance(timeout_s, (int, float)) and 0 < timeout_s <= 3600):
        raise ValueError(f"timeout_s must be in (0, 3600] seconds, got {timeout_s!r}")
    if not (isinstance(memory_mb, int) and 32 <= memory_mb <= 1 << 20):
        raise ValueError(f"memory_mb must be an int >= 32 (the interpreter needs ~30 MB), got {memory_mb!r}")
    if not (isinstance(max_output_bytes, int) and 0 < max_output_bytes <= 1 << 26):
        raise ValueError(f"max_output_bytes must be an int in (0, 64 MiB], got {max_output_bytes!r}")
    if not isinstance(stdin, str) or len(stdin) > 1 << 20:
        raise ValueError("stdin must be a str of at most 1 MiB")


def screen(codes, timeout_s, memory_mb, max_output_bytes, stdin) -> tuple[list[Result | None], list[int]]:
    """What every pool does before sending a batch anywhere: check the limits, and answer the
    programs ``refuse`` turns away. Returns (results with those filled in, indices still to run)."""
    if isinstance(codes, str):
        raise TypeError("run_many takes a list of programs; use sandbox.run for one string")
    check_limits(timeout_s, memory_mb, max_output_bytes, stdin)
    results: list[Result | None] = [None] * len(codes)
    todo = []
    for i, code in enumerate(codes):
        results[i] = refuse(code)
        if results[i] is None:
            todo.append(i)
    return results, todo
