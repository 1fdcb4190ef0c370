/*!
Unit tests of the reports of entering the namespaces.
*/

use super::report::REPORT_LEN;
use super::*;

#[test]
fn reports_round_trip_and_read_well() {
    let rep = Report {
        step: Step::Unshare,
        user_ns: false,
        errno: libc::EPERM,
        errno_user: libc::EPERM,
    };
    assert_eq!(Report::decode(&rep.encode()), Some(rep));
    assert_eq!(
        rep.isolation(),
        Isolation::None {
            why: "creating a network namespace is not permitted: EPERM \
                  (with a user namespace: EPERM)"
                .to_string()
        }
    );
    assert_eq!(
        Report::done(true).isolation(),
        Isolation::Namespaces { user_ns: true }
    );
    let lo = Report::failed(Step::Loopback, libc::EACCES).isolation();
    assert!(!lo.is_isolated());
    assert!(format!("{lo:?}").contains("loopback"), "{lo:?}");
    assert_eq!(Report::decode(&[42; REPORT_LEN]), None);
}
