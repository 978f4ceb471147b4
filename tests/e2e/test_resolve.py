"""sockbox resolve: names, addresses, reverse names, this machine (never edits /etc/hosts)."""

import json
import re
import socket

import pytest

from conftest import sockbox


def hosts_lines_for(name, addr):
    """1-based line numbers of /etc/hosts that map name to addr (as glibc reads the file)."""
    found = []
    with open("/etc/hosts", encoding="utf-8", errors="replace") as f:
        for i, line in enumerate(f, 1):
            fields = line.split("#", 1)[0].split()
            if len(fields) >= 2 and fields[0] == addr and name.lower() in (
                    n.lower() for n in fields[1:]):
                found.append(i)
    return found


def text(r):
    return r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")


def test_localhost_includes_127_0_0_1_from_etc_hosts():
    lines = hosts_lines_for("localhost", "127.0.0.1")
    if not lines:
        pytest.skip("/etc/hosts does not map localhost to 127.0.0.1 here")
    r = sockbox("resolve", "localhost")
    out, err = text(r)
    assert r.returncode == 0, err
    assert out.startswith("localhost: canonical name "), out
    assert re.search(rf"^  127\.0\.0\.1\s+from /etc/hosts:{lines[0]}$", out, re.M), out


def test_own_hostname_resolves():
    name = socket.gethostname()
    r = sockbox("resolve", name)
    out, err = text(r)
    assert r.returncode == 0, err
    want = {ai[4][0] for ai in socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)}
    got = set(re.findall(r"^  (\S+)\s+(?:from|numeric)", out, re.M))
    assert got == want, out


def test_no_host_lists_hostname_and_loopback_interface():
    r = sockbox("resolve")
    out, err = text(r)
    assert r.returncode == 0, err
    assert out.startswith(f"hostname: {socket.gethostname()}\n"), out
    assert re.search(r"^interfaces:$", out, re.M), out
    assert re.search(r"^  lo\s+127\.0\.0\.1/8$", out, re.M), out


def first_hosts_line_for_addr(addr):
    """(line number, canonical name) of the first /etc/hosts line for addr, or None."""
    with open("/etc/hosts", encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f, 1):
            fields = line.split("#", 1)[0].split()
            if len(fields) >= 2 and fields[0] == addr:
                return n, fields[1]
    return None


def test_ip_gets_its_reverse_name():
    first = first_hosts_line_for_addr("127.0.0.1")
    if not first or socket.gethostbyaddr("127.0.0.1")[0] != first[1]:
        pytest.skip("127.0.0.1's reverse name does not come from /etc/hosts here")
    r = sockbox("resolve", "127.0.0.1")
    out, err = text(r)
    assert r.returncode == 0, err
    assert out == (f"127.0.0.1: an address; reverse name {first[1]}, "
                   f"from /etc/hosts:{first[0]}\n"), out


def test_ip_without_reverse_name_says_so():
    # TEST-NET-2 (RFC 5737) has no PTR records; a resolver without network fails as well.
    r = sockbox("resolve", "198.51.100.77", timeout=60)
    out, err = text(r)
    assert r.returncode == 0, err
    assert out.startswith("198.51.100.77: an address; no reverse name ("), out


def test_unknown_name_exits_1_with_the_resolvers_reason():
    r = sockbox("resolve", "no-such-host.invalid")
    out, err = text(r)
    assert r.returncode == 1, (out, err)
    assert out == ""
    assert re.match(r"^sockbox: cannot resolve no-such-host\.invalid: \S.*\n$", err), err


def test_one_bad_name_among_good_ones_still_prints_the_good_ones():
    r = sockbox("resolve", "127.0.0.1", "no-such-host.invalid", "localhost")
    out, err = text(r)
    assert r.returncode == 1
    assert out.startswith("127.0.0.1: an address"), out
    assert "localhost: canonical name" in out
    assert "no-such-host.invalid" in err


def test_json_parses_and_carries_sources():
    r = sockbox("resolve", "--json", "localhost", "127.0.0.1", "no-such-host.invalid")
    out, err = text(r)
    assert r.returncode == 1
    doc = json.loads(out)
    assert doc["hosts_file"] == "/etc/hosts"
    assert isinstance(doc["nsswitch_hosts"], list)
    res = {x["host"]: x for x in doc["results"]}
    loc = res["localhost"]
    assert loc["resolved"] and not loc["numeric"]
    assert any(a["address"] == "127.0.0.1" for a in loc["addresses"])
    for a in loc["addresses"]:
        assert a["source"] in ("hosts", "resolver")
        assert a["family"] in ("ipv4", "ipv6")
    ip = res["127.0.0.1"]
    assert ip["numeric"] and ip["addresses"][0]["source"] == "numeric"
    assert "reverse" in ip
    bad = res["no-such-host.invalid"]
    assert bad["resolved"] is False and bad["error"]


def test_json_without_host_lists_interfaces():
    r = sockbox("resolve", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["hostname"] == socket.gethostname()
    assert any(i["name"] == "lo" and i["address"] == "127.0.0.1" and i["prefix"] == 8
               and i["loopback"] for i in doc["interfaces"])


def test_family_flags_restrict_addresses():
    r = sockbox("resolve", "-4")
    out, _ = text(r)
    assert "::1/128" not in out and "127.0.0.1/8" in out
    r = sockbox("resolve", "-6", "--json")
    doc = json.loads(r.stdout)
    assert all(i["family"] == "ipv6" for i in doc["interfaces"])
    r = sockbox("resolve", "-4", "::1")
    assert r.returncode == 1


@pytest.mark.parametrize("args", [["--bogus"], ["-x", "localhost"], [""]])
def test_usage_errors_exit_2(args):
    r = sockbox("resolve", *args)
    _, err = text(r)
    assert r.returncode == 2, err
    assert err.startswith("sockbox: "), err


def test_help_states_the_exit_status():
    r = sockbox("resolve", "--help")
    assert r.returncode == 0
    assert "1 a name did not resolve" in r.stdout.decode()
