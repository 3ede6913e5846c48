"""EventSubscriber (sync and async) yields decoded (topic, payload) pairs."""

from __future__ import annotations

from circus.client import AsyncEventSubscriber, EventSubscriber


def test_sync_subscriber(publisher):
    with EventSubscriber(publisher.endpoint, topics=["watcher.web."]) as events:
        assert publisher.wait_subscribed() == b"watcher.web."
        publisher.publish("watcher.other.spawn", {"process_pid": 1, "time": 1.0})
        publisher.publish("watcher.web.spawn", {"process_pid": 2, "time": 2.0})
        publisher.publish("watcher.web.odd", b"not json")
        iterator = iter(events)
        assert next(iterator) == ("watcher.web.spawn", {"process_pid": 2, "time": 2.0})
        assert next(iterator) == ("watcher.web.odd", {"data": "not json"})
        assert events.recv(timeout=0.05) is None


async def test_async_subscriber(publisher):
    async with AsyncEventSubscriber(publisher.endpoint) as events:
        assert publisher.wait_subscribed() == b"watcher."
        publisher.publish("watcher.web.reap", {"process_pid": 3, "time": 1.0, "exit_code": 0})
        async for topic, payload in events:
            assert (topic, payload["exit_code"]) == ("watcher.web.reap", 0)
            break


def test_parse_published_accepts_only_a_topic_and_a_json_object():
    from circus.client import parse_published

    assert parse_published([b"stat.web.12", b'{"pid": 12}']) == ("stat.web.12", {"pid": 12})
    for bad in ([b"stat.web"], [b"a", b"{}", b"extra"], [b"\xff", b"{}"], [b"t", b"not json"],
                [b"t", b"[1, 2]"]):
        assert parse_published(bad) is None, bad
