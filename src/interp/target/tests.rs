/*!
Unit tests of the target's plumbing: `/proc/net` parsing, the address to reach,
port placeholders, addresses.
*/

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, UdpSocket};

use super::procnet::proc_socket_inodes;
use super::*;

// Sample text as a little-endian Linux prints it.
const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0
   1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1 0 100 0 0 10 0
   2: 0100007F:1F91 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0 20 4 30 10 -1
";
const TCP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:2328 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4 1 0 100 0 0 10 0
   1: 00000000000000000000000000000000:2329 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5 1 0 100 0 0 10 0
";
const UDP: &str = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  100: 0100007F:3039 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 6 2 0 0
";

#[test]
#[cfg(target_endian = "little")]
fn tcp_listeners_are_found_by_port_and_state() {
    assert_eq!(listening_on(TCP, 8080), [IpAddr::V4(Ipv4Addr::LOCALHOST)]);
    assert_eq!(listening_on(TCP, 22), [IpAddr::V4(Ipv4Addr::UNSPECIFIED)]);
    // 8081 is an established connection, not a listener.
    assert!(listening_on(TCP, 8081).is_empty());
    assert_eq!(listening_on(TCP6, 9000), [IpAddr::V6(Ipv6Addr::LOCALHOST)]);
    assert_eq!(
        listening_on(TCP6, 9001),
        [IpAddr::V6(Ipv6Addr::UNSPECIFIED)]
    );
    assert!(listening_on("garbage\nmore garbage", 1).is_empty());
}

#[test]
#[cfg(target_endian = "little")]
fn socket_inodes_are_read_with_their_address_and_state() {
    let rows: Vec<(SocketAddr, u64, u8)> = proc_socket_inodes(TCP).collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0], ("127.0.0.1:8080".parse().unwrap(), 1, 0x0A));
    assert_eq!(rows[2], ("127.0.0.1:8081".parse().unwrap(), 3, 0x01));
    assert_eq!(proc_socket_inodes("header\nnot a row").count(), 0);
}

#[test]
#[cfg(target_endian = "little")]
fn udp_sockets_are_found_by_port() {
    assert_eq!(bound_on(UDP, 12345), [IpAddr::V4(Ipv4Addr::LOCALHOST)]);
    assert!(bound_on(UDP, 12346).is_empty());
}

#[test]
fn loopback_v4_is_preferred() {
    let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
    let any6 = IpAddr::V6(Ipv6Addr::UNSPECIFIED);
    let other = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    assert_eq!(reachable_ip(&[v6]), Some(v6));
    assert_eq!(reachable_ip(&[any6]), Some(lo));
    assert_eq!(reachable_ip(&[v6, lo]), Some(lo));
    assert_eq!(reachable_ip(&[other]), None);
    assert_eq!(reachable_ip(&[]), None);
}

#[test]
fn live_proc_text_sees_our_own_listener() {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = l.local_addr().unwrap().port();
    if let Ok(text) = std::fs::read_to_string("/proc/net/tcp") {
        assert_eq!(listening_on(&text, port), [IpAddr::V4(Ipv4Addr::LOCALHOST)]);
    }
    let u = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = u.local_addr().unwrap().port();
    if let Ok(text) = std::fs::read_to_string("/proc/net/udp") {
        assert_eq!(bound_on(&text, port), [IpAddr::V4(Ipv4Addr::LOCALHOST)]);
    }
}

#[test]
fn port_placeholders_are_replaced_and_others_kept() {
    assert_eq!(
        substitute_port("srv {{port}} {{ target.port }} {{other}}", 80),
        "srv 80 80 {{other}}"
    );
    assert_eq!(
        substitute_port("awk '{{ print }}'", 80),
        "awk '{{ print }}'"
    );
    assert_eq!(substitute_port("a {{b", 80), "a {{b");
    assert_eq!(
        substitute_port("srv {{ port | u16be }} {{port|len}} {{other | hex}}", 8080),
        "srv 1f 90 4 {{other | hex}}"
    );
    assert_eq!(
        substitute(
            "x {{ scenario.dir | upper }} {{scenario.dir|u16be}}",
            &[("scenario.dir", "/a")]
        ),
        "x /A {{scenario.dir|u16be}}"
    );
}

#[test]
fn addresses_resolve_or_are_rejected() {
    let t = RunningTarget::at_address("localhost:12000").unwrap();
    assert_eq!(t.addr.port(), 12000);
    assert!(t.addr.ip().is_loopback());
    assert!(matches!(
        RunningTarget::at_address("no-port"),
        Err(TargetError::BadAddress(_))
    ));
}
