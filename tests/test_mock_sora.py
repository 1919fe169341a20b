"""The Sora mock upstream: the openai SDK, the seed's bodies, the job lifecycle, schemas, bad inputs."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import orjson
import pytest
import reference

import specs
from mocks import media
from mocks.offline import mock_upstreams
from mocks.serving import ServerThread
from mocks.sora_app import FAIL_AT, QUEUED_SHARE, Job, SoraMock
from specs import seed

# the Sora methods of the SDK are marked deprecated (shutdown announced); they still work
pytestmark = pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")

VIDEO_MS = 300  # the server's job duration in these tests
SLOW = {"x-mock-config": orjson.dumps({"video_ms": 60_000}).decode()}  # a job that will not finish here
URL = "https://example.com/a.png"
STATUSES = {"queued", "in_progress", "completed", "failed"}


# -- schema checks ----------------------------------------------------------------------------------
def check_video(obj: dict[str, Any]) -> dict[str, Any]:
    specs.validate("sora", "Video", obj)
    reference.validate_openai("VideoResource", obj)
    return obj


def check_list(obj: dict[str, Any]) -> dict[str, Any]:
    specs.validate("sora", "VideoList", obj)
    reference.validate_openai("VideoListResource", obj)
    return obj


def check_error(r: httpx.Response, status: int, param: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    specs.validate("sora", "ErrorResponse", body)
    reference.validate_openai("ErrorResponse", body)
    assert body["error"]["message"]
    if param is not None:
        assert body["error"]["param"] == param, body
    return body["error"]


# -- fixtures ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server() -> Iterator[tuple[SoraMock, str]]:
    mock = SoraMock(video_ms=VIDEO_MS)
    with ServerThread(mock) as srv:
        yield mock, srv.url


@pytest.fixture
def sora(server: tuple[SoraMock, str]) -> SoraMock:
    server[0].reset()
    return server[0]


@pytest.fixture
def http(server: tuple[SoraMock, str], sora: SoraMock) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server[1], timeout=10, headers={"authorization": "Bearer test-key"}) as client:
        yield client


@pytest.fixture
def client(server: tuple[SoraMock, str], sora: SoraMock) -> openai.OpenAI:
    return openai.OpenAI(base_url=server[1] + "/v1", api_key="sk-test", max_retries=0)


def create(http: httpx.Client, headers: dict[str, str] | None = None, **fields: Any) -> dict[str, Any]:
    r = http.post("/v1/videos", json={"prompt": "a cat playing ball", **fields}, headers=headers)
    assert r.status_code == 200, r.text
    return check_video(r.json())


def wait_until_done(http: httpx.Client, video_id: str, timeout: float = 5.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        video = check_video(http.get(f"/v1/videos/{video_id}").json())
        if video["status"] in ("completed", "failed"):
            return video
        time.sleep(0.01)
    raise AssertionError(f"{video_id} did not finish within {timeout} s")


# -- the official SDK, unmodified ------------------------------------------------------------------------
def test_sdk_create_poll_download_remix_delete(client: openai.OpenAI) -> None:
    raw = client.videos.with_raw_response.create(prompt="A calico cat playing a piano on stage",
                                                 model="sora-2", seconds="8", size="1280x720")
    check_video(raw.http_response.json())
    created = raw.parse()
    assert created.object == "video" and created.status == "queued" and created.progress == 0
    assert created.id.startswith("video_") and (created.seconds, created.size) == ("8", "1280x720")
    assert created.completed_at is None and created.error is None

    got = client.videos.retrieve(created.id)
    assert got.id == created.id and got.status in STATUSES

    done = client.videos.poll(created.id, poll_interval_ms=20)
    assert done.status == "completed" and done.progress == 100
    assert done.completed_at is not None and done.expires_at is not None
    assert done.expires_at > done.completed_at

    content = client.videos.download_content(created.id)
    data = content.read()
    assert data[4:8] == b"ftyp" and data == media.mp4()
    assert content.response.headers["content-type"] == "video/mp4"
    assert int(content.response.headers["content-length"]) == len(data)
    thumb = client.videos.download_content(created.id, variant="thumbnail")
    assert thumb.read() == media.thumbnail()
    assert thumb.response.headers["content-type"] == media.THUMBNAIL_MIME
    sprites = client.videos.download_content(created.id, variant="spritesheet")
    assert sprites.read() == media.spritesheet()

    remixed = client.videos.remix(created.id, prompt="Now the cat takes a bow")
    assert remixed.remixed_from_video_id == created.id and remixed.id != created.id
    assert (remixed.model, remixed.seconds, remixed.size) == ("sora-2", "8", "1280x720")
    assert remixed.prompt == "Now the cat takes a bow" and remixed.status == "queued"

    deleted = client.videos.delete(created.id)
    assert (deleted.id, deleted.object, deleted.deleted) == (created.id, "video.deleted", True)
    with pytest.raises(openai.NotFoundError):
        client.videos.retrieve(created.id)
    with pytest.raises(openai.NotFoundError):
        client.videos.download_content(created.id)


def test_sdk_create_and_poll(client: openai.OpenAI) -> None:
    t0 = time.monotonic()
    video = client.videos.create_and_poll(prompt="waves on a beach", model="sora-2-pro", size="1792x1024")
    elapsed = time.monotonic() - t0
    # the SDK polls at the interval the mock suggests (openai-poll-after-ms), not its default 1 s
    assert video.status == "completed" and video.progress == 100
    assert VIDEO_MS / 1000 <= elapsed < 0.9  # the SDK's default interval alone is 1 s
    assert (video.model, video.size, video.seconds) == ("sora-2-pro", "1792x1024", "4")


def test_sdk_input_reference(client: openai.OpenAI, sora: SoraMock) -> None:
    png = media.png(64, 36, "reference")
    video = client.videos.create(prompt="animate this", input_reference=("ref.png", png, "image/png"))
    assert video.status == "queued" and video.id in sora.jobs
    clip = client.videos.create(prompt="continue this", input_reference=("ref.mp4", media.mp4(), "video/mp4"))
    assert clip.id in sora.jobs
    # the file really reaches the mock: bytes that are no image are refused, naming the field
    with pytest.raises(openai.BadRequestError) as err:
        client.videos.create(prompt="animate this", input_reference=("ref.png", b"not an image", "image/png"))
    assert err.value.status_code == 400 and err.value.param == "input_reference"
    assert len(sora.jobs) == 2


def test_input_reference_by_url(http: httpx.Client, sora: SoraMock) -> None:
    # (the SDK cannot send this form: its multipart encoder takes files only)
    data_url = "data:image/png;base64," + base64.b64encode(media.png(8, 8, "x")).decode()
    for ref in ({"image_url": URL}, {"image_url": data_url}, {"file_id": "file-abc123"}):
        create(http, input_reference=ref)
    # the same object as form fields (input_reference[image_url]), and a URL as a plain form field
    r = http.post("/v1/videos", data={"prompt": "x", "input_reference[image_url]": URL})
    assert r.status_code == 200 and check_video(r.json())["status"] == "queued"
    r = http.post("/v1/videos", data={"prompt": "x", "input_reference": data_url})
    assert r.status_code == 200, r.text
    assert len(sora.jobs) == 5


def test_sdk_list_paging(client: openai.OpenAI) -> None:
    ids = [client.videos.create(prompt=f"clip {i}").id for i in range(5)]
    first = client.videos.list(limit=2)
    assert [v.id for v in first.data] == ids[::-1][:2] and first.has_more is True
    assert [v.id for v in client.videos.list(limit=2)] == ids[::-1]  # auto-paging follows last_id
    page = client.videos.list(order="asc", after=ids[1], limit=2)
    assert [v.id for v in page.data] == ids[2:4] and page.has_more is True
    last = client.videos.list(order="asc", after=ids[3], limit=2)
    assert [v.id for v in last.data] == ids[4:] and last.has_more is False


def test_offline_router() -> None:
    # mocks.offline sends httpx requests for https://api.openai.com/v1/videos... here, in-process.
    # (Not the openai 3.x SDK: it is built on httpx2, which respx does not intercept.)
    with mock_upstreams({"sora": SoraMock(video_ms=0)}) as servers, \
            httpx.Client(base_url="https://api.openai.com", headers={"authorization": "Bearer test-key"}) as http:
        video = check_video(http.post("/v1/videos", json={"prompt": "offline", "seconds": "12"}).json())
        assert http.get(f"/v1/videos/{video['id']}").json()["status"] == "completed"
        assert http.get(f"/v1/videos/{video['id']}/content").content == media.mp4()
        assert servers["sora"].stats()["by_model"] == {"sora-2": 1}


def test_list_shapes(http: httpx.Client) -> None:
    empty = check_list(http.get("/v1/videos").json())
    assert empty == {"object": "list", "data": [], "first_id": None, "last_id": None, "has_more": False}
    ids = [create(http, prompt=f"clip {i}")["id"] for i in range(3)]
    page = check_list(http.get("/v1/videos", params={"limit": 2}).json())
    assert (page["first_id"], page["last_id"], page["has_more"]) == (ids[2], ids[1], True)
    zero = check_list(http.get("/v1/videos", params={"limit": 0}).json())
    assert zero["data"] == [] and zero["has_more"] is True
    full = check_list(http.get("/v1/videos", params={"order": "asc", "limit": 100}).json())
    assert [v["id"] for v in full["data"]] == ids and full["has_more"] is False


# -- the seed's requests, as written ------------------------------------------------------------------------
def test_seed_video_flow(http: httpx.Client) -> None:
    auth = {"Authorization": "sk-seed-key"}  # the seed's form: no "Bearer"
    r = http.post(seed.VIDEO_CREATE.path, content=seed.VIDEO_CREATE.body.encode(),
                  headers={**auth, "content-type": "application/json"})
    assert r.status_code == 200, r.text
    video = check_video(r.json())
    # duration 5 -> the next official length "8"; 480p -> the smallest official landscape size
    assert (video["model"], video["prompt"], video["seconds"], video["size"]) == \
        ("sora-2", "一只猫咪在打球", "8", "1280x720")

    r = http.get(seed.VIDEO_RETRIEVE.with_video_id(video["id"]), headers=auth)
    assert check_video(r.json())["id"] == video["id"]
    assert r.headers["openai-poll-after-ms"].isdigit()
    wait_until_done(http, video["id"])

    content = http.post(seed.VIDEO_CONTENT.with_video_id(video["id"]), headers=auth)
    assert content.status_code == 200 and content.headers["content-type"] == "video/mp4"
    assert content.content[4:8] == b"ftyp" and int(content.headers["content-length"]) == len(content.content)

    r = http.post(seed.VIDEO_REMIX.with_video_id(video["id"]), content=seed.VIDEO_REMIX.body.encode(),
                  headers={**auth, "content-type": "application/json"})
    assert r.status_code == 200, r.text
    remix = check_video(r.json())
    assert remix["remixed_from_video_id"] == video["id"] and remix["prompt"] == "猫咪改成老虎"
    assert (remix["seconds"], remix["size"]) == ("8", "1280x720")


def test_seed_body_sent_the_curl_way(http: httpx.Client) -> None:
    # `curl -d '{...}'` without a content type labels JSON as a urlencoded form
    r = http.post("/v1/videos", content=seed.VIDEO_CREATE.body.encode(),
                  headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 200 and check_video(r.json())["seconds"] == "8"


@pytest.mark.parametrize(("fields", "seconds", "size"), [
    ({}, "4", "720x1280"),
    ({"duration": 1}, "4", "720x1280"),
    ({"duration": 4}, "4", "720x1280"),
    ({"duration": 5}, "8", "720x1280"),
    ({"duration": 8}, "8", "720x1280"),
    ({"duration": 9}, "12", "720x1280"),
    ({"duration": 60}, "12", "720x1280"),
    ({"resolution": "480p"}, "4", "1280x720"),
    ({"resolution": "720p"}, "4", "1280x720"),
    ({"resolution": "1080p"}, "4", "1280x720"),
    ({"resolution": "1080p", "model": "sora-2-pro"}, "4", "1792x1024"),
    ({"duration": 10, "resolution": "720p", "fps": 24}, "12", "1280x720"),
    ({"duration": 10, "seconds": "4", "resolution": "1080p", "size": "720x1280"}, "4", "720x1280"),
    ({"seconds": "12", "size": "1280x720", "model": "sora-2-2025-10-06"}, "12", "1280x720"),
])
def test_seed_fields_map_to_official(http: httpx.Client, fields: dict[str, Any], seconds: str,
                                     size: str) -> None:
    video = create(http, **fields)
    assert (video["seconds"], video["size"]) == (seconds, size)


def test_multipart_with_seed_fields(http: httpx.Client) -> None:
    r = http.post("/v1/videos", data={"prompt": "a dog", "duration": "5", "resolution": "720p", "fps": "30"},
                  files={"input_reference": ("ref.jpg", _jpeg(), "image/jpeg")})
    assert r.status_code == 200, r.text
    assert (check_video(r.json())["seconds"], r.json()["size"]) == ("8", "1280x720")


def _jpeg() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (32, 18), (10, 200, 30)).save(out, "JPEG")
    return out.getvalue()


# -- lifecycle ----------------------------------------------------------------------------------------------
def sample(http: httpx.Client, video_id: str, timeout: float = 5.0) -> list[dict[str, Any]]:
    """Every state seen while polling as fast as possible until the job ends."""
    seen, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        video = check_video(http.get(f"/v1/videos/{video_id}").json())
        seen.append(video)
        if video["status"] in ("completed", "failed"):
            return seen
        time.sleep(0.005)
    raise AssertionError(f"{video_id} did not finish: last {seen[-1]}")


def test_lifecycle_statuses_and_progress(http: httpx.Client) -> None:
    video = create(http, headers={"x-mock-config": '{"video_ms": 600}'})
    refused = http.get(f"/v1/videos/{video['id']}/content")
    err = check_error(refused, 409, "video_id")
    assert "not ready" in err["message"] and err["code"] == "video_not_ready"
    seen = sample(http, video["id"])
    statuses = [v["status"] for v in seen]
    progress = [v["progress"] for v in seen]
    assert set(statuses) <= STATUSES and statuses[-1] == "completed"
    assert progress == sorted(progress) and progress[-1] == 100
    assert "in_progress" in statuses and any(0 < p < 100 for p in progress)
    # status only moves forward: queued* in_progress* completed
    order = {"queued": 0, "in_progress": 1, "completed": 2}
    assert [order[s] for s in statuses] == sorted(order[s] for s in statuses)
    for v in seen[:-1]:
        assert v["completed_at"] is None and v["expires_at"] is None and v["error"] is None
    done = seen[-1]
    assert done["completed_at"] >= done["created_at"] and done["expires_at"] > done["completed_at"]
    assert http.get(f"/v1/videos/{video['id']}/content").content == media.mp4()


def test_content_refused_before_completion(http: httpx.Client) -> None:
    video = create(http, headers=SLOW)
    for method in ("GET", "POST"):
        for variant in ("video", "thumbnail", "spritesheet"):
            r = http.request(method, f"/v1/videos/{video['id']}/content", params={"variant": variant})
            err = check_error(r, 409, "video_id")
            assert err["message"].startswith("video is not ready: status ")
    # a job still running cannot be remixed or deleted either
    check_error(http.post(f"/v1/videos/{video['id']}/remix", json={"prompt": "x"}), 409, "video_id")
    check_error(http.delete(f"/v1/videos/{video['id']}"), 409, "video_id")


def test_fail_marker(http: httpx.Client) -> None:
    video = create(http, prompt="a cat [FAIL] juggling", headers={"x-mock-config": '{"video_ms": 400}'})
    seen = sample(http, video["id"])
    statuses = [v["status"] for v in seen]
    progress = [v["progress"] for v in seen]
    assert set(statuses) <= STATUSES and statuses[-1] == "failed" and "completed" not in statuses
    assert progress == sorted(progress) and 0 < progress[-1] < 100
    failed = seen[-1]
    assert set(failed["error"]) == {"code", "message"}
    assert failed["error"]["code"] and failed["error"]["message"]
    assert failed["completed_at"] is None
    err = check_error(http.post(f"/v1/videos/{video['id']}/content"), 409, "video_id")
    assert err["code"] == "video_failed"
    check_error(http.post(f"/v1/videos/{video['id']}/remix", json={"prompt": "again"}), 409, "video_id")
    gone = http.delete(f"/v1/videos/{video['id']}").json()
    specs.validate("sora", "DeletedVideo", gone)
    reference.validate_openai("DeletedVideoResource", gone)
    assert gone == {"id": video["id"], "object": "video.deleted", "deleted": True}


@pytest.mark.parametrize("fails", [False, True])
def test_state_only_moves_forward(fails: bool) -> None:
    job = Job(id="video_x", model="sora-2", prompt="p", size="720x1280", seconds="4", created_at=0,
              started=100.0, duration_s=2.0, fails=fails)
    states = [job.state(100.0 + i / 1000) for i in range(0, 2500, 7)]
    rank = {"queued": 0, "in_progress": 1, "completed": 2, "failed": 2}
    assert [rank[s] for s, _ in states] == sorted(rank[s] for s, _ in states)
    assert [p for _, p in states] == sorted(p for _, p in states)
    assert job.state(100.0) == ("queued", 0)
    assert job.state(100.0 + 2.0 * QUEUED_SHARE)[0] == "in_progress"
    end = "failed" if fails else "completed"
    assert states[-1][0] == end and (states[-1][1] == 100) is (not fails)
    if fails:
        assert job.state(100.0 + 2.0 * FAIL_AT - 0.001)[0] == "in_progress"


def test_zero_duration_completes_at_once(http: httpx.Client) -> None:
    video = create(http, headers={"x-mock-config": '{"video_ms": 0}'})
    assert video["status"] == "completed" and video["completed_at"] == video["created_at"]
    assert "openai-poll-after-ms" not in http.get(f"/v1/videos/{video['id']}").headers


# -- ids, state, determinism ------------------------------------------------------------------------------
def test_ids_deterministic_and_reset() -> None:
    def ids(mock: SoraMock) -> list[str]:
        async def run() -> list[str]:
            transport = httpx.ASGITransport(app=mock)
            async with httpx.AsyncClient(transport=transport, base_url="http://sora", headers={"authorization": "Bearer test-key"}) as c:
                return [(await c.post("/v1/videos", json={"prompt": f"p{i}"})).json()["id"] for i in range(3)]

        import asyncio

        return asyncio.run(run())

    a, b, other = SoraMock(), SoraMock(), SoraMock(seed=7)
    first = ids(a)
    assert first == ids(b) and first != ids(other) and len(set(first)) == 3
    assert all(i.startswith("video_") and len(i) == len("video_") + 32 for i in first)
    assert len(a.jobs) == 3
    a.reset()
    assert a.jobs == {} and ids(a) == first


def test_unknown_ids_are_404(http: httpx.Client) -> None:
    missing = "video_6936d4257f448190b25f416589f80f38"
    check_error(http.get(f"/v1/videos/{missing}"), 404, "video_id")
    check_error(http.delete(f"/v1/videos/{missing}"), 404, "video_id")
    check_error(http.get(f"/v1/videos/{missing}/content"), 404, "video_id")
    check_error(http.post(f"/v1/videos/{missing}/content"), 404, "video_id")
    check_error(http.post(f"/v1/videos/{missing}/remix", json={"prompt": "x"}), 404, "video_id")
    check_error(http.get("/v1/videos", params={"after": missing}), 404, "after")
    assert http.get(f"/v1/videos/{missing}").headers["x-mock-node"] == "sora"


# -- bad inputs: 4xx in the OpenAI shape, never a 500 ------------------------------------------------------
JSON_CT = {"content-type": "application/json"}
MULTIPART_CT = {"content-type": "multipart/form-data; boundary=xyz"}
BAD_DATA_URL = {"json": {"prompt": "x", "input_reference": {"image_url": "data:image/png;base64,!"}}}
FTYP = b"\0\0\0\x18ftypmp42"  # the head of an MP4

BAD_CREATES: list[tuple[str, dict[str, Any], int, str | None]] = [
    ("empty body", {"content": b""}, 400, None),
    ("broken JSON", {"content": b'{"prompt": "x",', "headers": JSON_CT}, 400, None),
    ("not an object", {"json": ["prompt"]}, 400, None),
    ("missing prompt", {"json": {"model": "sora-2"}}, 400, "prompt"),
    ("prompt not a string", {"json": {"prompt": 5}}, 400, "prompt"),
    ("empty prompt", {"json": {"prompt": ""}}, 400, "prompt"),
    ("prompt too long", {"json": {"prompt": "x" * 32001}}, 400, "prompt"),
    ("prompt null", {"json": {"prompt": None}}, 400, "prompt"),
    ("unknown model", {"json": {"prompt": "x", "model": "sora-3"}}, 400, "model"),
    ("model not a string", {"json": {"prompt": "x", "model": 2}}, 400, "model"),
    ("seconds as a number", {"json": {"prompt": "x", "seconds": 8}}, 400, "seconds"),
    ("seconds not allowed", {"json": {"prompt": "x", "seconds": "5"}}, 400, "seconds"),
    ("size not allowed", {"json": {"prompt": "x", "size": "1920x1080"}}, 400, "size"),
    ("size of pro on sora-2", {"json": {"prompt": "x", "size": "1792x1024"}}, 400, "size"),
    ("duration as a string", {"json": {"prompt": "x", "duration": "5"}}, 400, "duration"),
    ("duration zero", {"json": {"prompt": "x", "duration": 0}}, 400, "duration"),
    ("duration fractional", {"json": {"prompt": "x", "duration": 5.5}}, 400, "duration"),
    ("resolution unknown", {"json": {"prompt": "x", "resolution": "4k"}}, 400, "resolution"),
    ("fps too high", {"json": {"prompt": "x", "fps": 240}}, 400, "fps"),
    ("fps a string", {"json": {"prompt": "x", "fps": "fast"}}, 400, "fps"),
    ("reference both forms", {"json": {"prompt": "x", "input_reference": {"image_url": "https://a/b.png",
                                                                          "file_id": "file-1"}}},
     400, "input_reference"),
    ("reference not an object", {"json": {"prompt": "x", "input_reference": 7}}, 400, "input_reference"),
    ("reference bad data URL", BAD_DATA_URL,
     400, "input_reference.image_url"),
    ("form: missing prompt", {"data": {"model": "sora-2"}, "files": {"input_reference": ("a.png", b"x")}},
     400, "prompt"),
    ("form: text instead of a file", {"data": {"prompt": "x"},
                                      "files": {"input_reference": ("a.txt", b"hello", "text/plain")}},
     400, "input_reference"),
    ("form: empty file", {"data": {"prompt": "x"}, "files": {"input_reference": ("a.png", b"", "image/png")}},
     400, "input_reference"),
    ("form: other file part", {"data": {"prompt": "x"}, "files": {"image": ("a.png", b"x", "image/png")}},
     400, "image"),
    ("form: duration not a number", {"data": {"prompt": "x", "duration": "five"},
                                     "files": {"input_reference": ("a.mp4", FTYP, "video/mp4")}},
     400, "duration"),
    ("form: seconds not allowed", {"data": {"prompt": "x", "seconds": "7"}}, 400, "seconds"),
    ("multipart garbage", {"content": b"garbage", "headers": MULTIPART_CT}, 400, None),
    ("multipart without boundary", {"content": b"abc", "headers": {"content-type": "multipart/form-data"}},
     400, None),
    ("multipart part without name", {"content": b"--xyz\r\nContent-Disposition: form-data\r\n\r\nx\r\n--xyz--",
                                     "headers": MULTIPART_CT}, 400, None),
    ("multipart cut short", {"content": b'--xyz\r\nContent-Disposition: form-data; name="model"\r\n\r\nsora',
                             "headers": MULTIPART_CT}, 400, "prompt"),
]


@pytest.mark.parametrize(("case", "request_kw", "status", "param"), BAD_CREATES,
                         ids=[c[0] for c in BAD_CREATES])
def test_bad_create(http: httpx.Client, sora: SoraMock, case: str, request_kw: dict[str, Any], status: int,
                    param: str | None) -> None:
    err = check_error(http.post("/v1/videos", **request_kw), status, param)
    assert len(err["message"]) < 300  # says what is wrong without quoting the request back
    assert sora.jobs == {}


def test_bad_list_content_remix_params(http: httpx.Client) -> None:
    video = create(http, headers={"x-mock-config": '{"video_ms": 0}'})
    for params, param in [({"limit": "101"}, "limit"), ({"limit": "-1"}, "limit"), ({"limit": "ten"}, "limit"),
                          ({"order": "newest"}, "order"), ({"after": ""}, "after")]:
        check_error(http.get("/v1/videos", params=params), 400, param)
    check_error(http.get(f"/v1/videos/{video['id']}/content", params={"variant": "gif"}), 400, "variant")
    remix = f"/v1/videos/{video['id']}/remix"
    check_error(http.post(remix, json={}), 400, "prompt")
    check_error(http.post(remix, json={"prompt": ""}), 400, "prompt")
    check_error(http.post(remix, json={"prompt": ["x"]}), 400, "prompt")
    check_error(http.post(remix, content=b"{", headers={"content-type": "application/json"}), 400)
    check_error(http.put(remix, json={"prompt": "x"}), 405)
    # the reference allows the remix prompt as a form field too
    r = http.post(remix, data={"prompt": "as a form"})
    assert r.status_code == 200 and check_video(r.json())["prompt"] == "as a form"
