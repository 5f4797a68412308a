"""The dashboard's server, started as the README says, without passing an address: what it binds
(read from the OS), and what it refuses. `.streamlit/config.toml` must do all of it."""

import ipaddress
import os
import socket
import tomllib
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from benchmarks.serve import dashboard_server

ROOT = Path(__file__).resolve().parent.parent


def listening_addresses(pid: int) -> set[tuple[str, int]]:
    """(host, port) of every TCP socket that process ``pid`` listens on: its socket inodes
    (/proc/PID/fd) matched against the kernel's socket tables (/proc/PID/net/tcp, tcp6)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except FileNotFoundError:  # closed meanwhile (the listing's own descriptor)
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    found = set()
    for table in ("tcp", "tcp6"):
        with open(f"/proc/{pid}/net/{table}") as f:
            for line in list(f)[1:]:
                fields = line.split()
                local, state, inode = fields[1], fields[3], fields[9]
                if state == "0A" and inode in inodes:  # 0A: LISTEN
                    found.add(_decode(local))
    return found


def _decode(local: str) -> tuple[str, int]:
    """'0100007F:1F90' -> ('127.0.0.1', 8080): the address in host byte order, 32-bit word by word."""
    address, port = local.split(":")
    words = bytes.fromhex(address)
    raw = b"".join(words[i : i + 4][::-1] for i in range(0, len(words), 4))
    return str(ipaddress.ip_address(raw)), int(port, 16)


def test_the_proc_decoder_reads_a_known_listening_socket():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        assert ("127.0.0.1", s.getsockname()[1]) in listening_addresses(os.getpid())
    with socket.socket(socket.AF_INET6) as s:
        s.bind(("::", 0))
        s.listen()
        assert ("::", s.getsockname()[1]) in listening_addresses(os.getpid())


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`streamlit run dashboard.py` from the repository root, exactly as the README says."""
    with dashboard_server(tmp_path_factory.mktemp("runs")) as (url, process):
        yield url, process


def test_started_as_the_readme_says_it_listens_on_loopback_only(server):
    url, process = server
    port = int(url.rsplit(":", 1)[1])
    assert listening_addresses(process.pid) == {("127.0.0.1", port)}


def test_started_from_another_folder_with_the_scripts_path_it_listens_on_loopback_only(tmp_path):
    # Streamlit >= 1.46 reads .streamlit/config.toml beside the main script too (requirements.txt)
    with dashboard_server(tmp_path / "runs", cwd=tmp_path, script=str(ROOT / "dashboard.py")) as (url, process):
        port = int(url.rsplit(":", 1)[1])
        assert listening_addresses(process.pid) == {("127.0.0.1", port)}


def test_a_file_upload_without_the_xsrf_token_is_refused(server):
    url, _ = server
    request = urllib.request.Request(f"{url}/_stcore/upload_file/session/file", data=b"x", method="PUT")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 403  # XSRF protection on (without it: 400, no such session)


def _websocket_status(port: int, host: str) -> str:
    """The status line the server answers to a WebSocket handshake naming ``host``."""
    request = (f"GET /_stcore/stream HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
               f"Origin: http://{host}:{port}\r\n\r\n")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request.encode())
        return s.recv(200).decode(errors="replace").splitlines()[0]


def _live_status(url: str, host: str, path: str = "/api/live/some-run") -> int:
    request = urllib.request.Request(f"{url}{path}", headers={"Host": host})
    try:
        return urllib.request.urlopen(request, timeout=10).status
    except urllib.error.HTTPError as answer:
        return answer.code


def test_the_live_data_route_is_served_and_refuses_a_foreign_host_name(server):
    url, _ = server
    port = int(url.rsplit(":", 1)[1])
    assert _live_status(url, f"127.0.0.1:{port}") in (503, 404)  # served: no page yet (503), or no such run (404)
    assert _live_status(url, f"attacker.example:{port}") == 403  # DNS rebinding reads nothing
    # the live runs' ids, which a Train tab that watches no live run polls: the same check
    assert _live_status(url, f"127.0.0.1:{port}", "/api/runs/live") in (503, 200)
    assert _live_status(url, f"attacker.example:{port}", "/api/runs/live") == 403


def test_websocket_from_a_foreign_host_name_is_refused(server):
    url, _ = server
    port = int(url.rsplit(":", 1)[1])
    assert " 101 " in _websocket_status(port, "127.0.0.1")  # the app's own name connects
    assert " 101 " not in _websocket_status(port, "attacker.example")  # DNS rebinding does not


def test_the_config_file_turns_usage_statistics_off():
    # no observable effect on the server (the browser would send them), so this reads the file itself
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["browser"]["gatherUsageStats"] is False


def test_the_config_file_turns_the_collection_after_every_script_run_off():
    # a full gc.collect(2) per rerun held the GIL from the training thread (README, "Watching is free");
    # timing it would be a timed test, so this reads the file, as Streamlit does
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["runner"]["postScriptGC"] is False
