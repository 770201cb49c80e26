"""Worker throughput in emails per second, over raw smtplib sending the same messages.

Both send to the same aiosmtpd sink, which runs in its own process (so it doesn't compete
with the sender for the GIL). The worker's number covers what it does per message when
sending: claim in batches, send the message's bytes (built by Flask-Mail's Message when it
was queued) over one SMTP connection per batch, mark it sent and commit. An end-to-end
figure that also counts the fan-out (rendering and building every message) is printed too.
The baseline sends the very same bytes with smtplib over one reused connection, doing
nothing else. Rounds alternate; medians are compared. Goal: >= 0.5.
"""

from __future__ import annotations

import multiprocessing
import smtplib
import socket
import time

from sqlalchemy import select, update

from forum.courses.models import Prompt
from forum.courses.services import import_course
from forum.extensions import db
from forum.threads.services import create_post
from notifications.delivery import new_worker_id
from notifications.models import OutboxMessage, Subscription
from notifications.worker import fan_out_due, send_due
from tests.bench.common import add_users, bench_app, median

MESSAGES = 1000
ROUNDS = 3
COURSE = {
    "slug": "bench",
    "title": "Bench course",
    "modules": [{"slug": "one", "title": "Module one", "prompts": [{"slug": "t", "title": "T"}]}],
}


def _sink(port: int, ready, count) -> None:
    from aiosmtpd.controller import Controller

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            with count.get_lock():
                count.value += 1
            return "250 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=port, ready_timeout=10)
    controller.start()
    ready.set()
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> None:
    port = _free_port()
    ctx = multiprocessing.get_context("spawn")
    ready, count = ctx.Event(), ctx.Value("i", 0)
    sink = ctx.Process(target=_sink, args=(port, ready, count), daemon=True)
    sink.start()
    if not ready.wait(30):
        raise SystemExit("the SMTP sink did not start")
    try:
        _run(port, count)
    finally:
        sink.terminate()
        sink.join(10)


def _run(port: int, count) -> None:
    app = bench_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, NOTIFICATIONS_TRANSPORT="smtp")
    with app.app_context():
        import_course(COURSE)
        db.session.commit()
        prompt = db.session.execute(select(Prompt)).scalar_one()
        readers = add_users(MESSAGES, "reader")
        db.session.add_all(Subscription(user_id=uid, prompt_id=prompt.id) for uid in readers)
        db.session.commit()
        [author_id] = add_users(1, "author")
        from forum.accounts.models import User

        create_post(db.session.get(User, author_id), prompt, "A reflection for everyone. " * 8)
        db.session.commit()

        started = time.perf_counter()
        fanned = fan_out_due()
        fanout_seconds = time.perf_counter() - started
        assert fanned == MESSAGES

        # The very bytes the worker sends (built by Flask-Mail's Message at queue time).
        prepared = [
            (r.to_address, r.raw_message)
            for r in db.session.execute(select(OutboxMessage).order_by(OutboxMessage.id)).scalars()
        ]
        sender = app.config["MAIL_DEFAULT_SENDER"]
        db.session.commit()

        worker_rates, raw_rates = [], []
        for _ in range(ROUNDS):
            db.session.execute(
                update(OutboxMessage).values(status="queued", attempts=0, claimed_until=None)
            )
            db.session.commit()
            before = count.value
            started = time.perf_counter()
            report = send_due(new_worker_id(), max_messages=MESSAGES)
            elapsed = time.perf_counter() - started
            assert report.sent == MESSAGES, report
            _wait_for(count, before + MESSAGES)
            worker_rates.append(MESSAGES / elapsed)

            before = count.value
            started = time.perf_counter()
            smtp = smtplib.SMTP("127.0.0.1", port, timeout=30)
            for to_address, raw in prepared:
                smtp.sendmail(sender, [to_address], raw)
            smtp.quit()
            elapsed = time.perf_counter() - started
            _wait_for(count, before + MESSAGES)
            raw_rates.append(MESSAGES / elapsed)
        db.session.remove()
        db.engine.dispose()

    worker, raw = median(worker_rates), median(raw_rates)
    print(f"messages per round: {MESSAGES}, rounds: {ROUNDS} (alternating), medians")
    print(f"fan-out of one event to {MESSAGES} subscribers: {fanout_seconds:.2f} s")
    print("worker (claim, send, mark sent + commit each):", _rates(worker_rates))
    print("raw smtplib, same bytes, one connection:     ", _rates(raw_rates))
    print(f"worker: {worker:.0f} emails/s, raw smtplib: {raw:.0f} emails/s")
    print(f"ratio (goal >= 0.5): {worker / raw:.3f}")
    # The messages' bytes are built during fan-out; counting that work too:
    end_to_end = MESSAGES / (fanout_seconds + MESSAGES / worker)
    print(
        f"end to end incl. fan-out and rendering: {end_to_end:.0f} emails/s, "
        f"ratio {end_to_end / raw:.3f}"
    )


def _rates(values: list[float]) -> str:
    return ", ".join(f"{v:.0f}/s" for v in values)


def _wait_for(count, target: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while count.value < target and time.monotonic() < deadline:
        time.sleep(0.01)
    assert count.value >= target, f"the sink got {count.value} of {target}"


if __name__ == "__main__":
    main()
