//! The agent's hidden self-check `seglab-node --try-raw-socket`: can a
//! process in this container write a raw Ethernet frame onto its segment?
//! With NET_RAW it could forge frames to the bridge (and so to the Docker
//! host); lab nodes run without any capability, so this must be refused.
//! `docker exec` runs it with exactly the container's capabilities, which
//! is how the privilege test asks the container itself.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// IEEE 802 "local experimental" EtherType: no stack on the segment
/// handles it.
const ETHERTYPE_EXPERIMENTAL: u16 = 0x88b5;
/// The shortest Ethernet frame (without its checksum).
const MIN_FRAME: usize = 60;

/// Why the self-check did not send its frame.
#[derive(Debug, thiserror::Error)]
pub enum RawSocketError {
    /// The kernel refused the packet socket: no CAP_NET_RAW.
    #[error("EPERM: the kernel refused a raw packet socket ({0})")]
    Refused(#[source] io::Error),
    /// Anything else (no such interface, ...): the check proved nothing.
    #[error("the raw-socket check failed at {step}: {source}")]
    Failed {
        step: &'static str,
        #[source]
        source: io::Error,
    },
}

impl RawSocketError {
    /// 1 when refused (the expected answer in a lab node), 3 when the check
    /// could not be made.
    pub fn exit_code(&self) -> u8 {
        match self {
            RawSocketError::Refused(_) => 1,
            RawSocketError::Failed { .. } => 3,
        }
    }
}

fn failed(step: &'static str) -> impl FnOnce(io::Error) -> RawSocketError {
    move |source| RawSocketError::Failed { step, source }
}

/// Opens an AF_PACKET raw socket and sends one frame on `interface`,
/// addressed to the interface's own MAC: a bridge never sends a frame back
/// out of the port it came in on, so nobody receives it. Returns the bytes
/// sent.
pub fn try_raw_socket(interface: &str) -> Result<usize, RawSocketError> {
    let protocol = (libc::ETH_P_ALL as u16).to_be();
    // SAFETY: plain syscall; the result is checked before use.
    let fd = unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            i32::from(protocol),
        )
    };
    if fd < 0 {
        let e = io::Error::last_os_error();
        return Err(match e.raw_os_error() {
            Some(libc::EPERM | libc::EACCES) => RawSocketError::Refused(e),
            _ => RawSocketError::Failed {
                step: "socket(AF_PACKET, SOCK_RAW)",
                source: e,
            },
        });
    }
    // SAFETY: fd is a fresh descriptor we own.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };

    let name = CString::new(interface).map_err(|e| failed("interface name")(e.into()))?;
    let bytes = name.as_bytes_with_nul();
    if bytes.len() > libc::IFNAMSIZ {
        return Err(failed("interface name")(io::Error::from(
            io::ErrorKind::InvalidInput,
        )));
    }
    // SAFETY: if_nametoindex reads a NUL-terminated string.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if index == 0 {
        return Err(failed("if_nametoindex")(io::Error::last_os_error()));
    }
    // SAFETY: ifreq is plain old data; all zeroes is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(bytes) {
        *dst = *src as libc::c_char;
    }
    // SAFETY: SIOCGIFHWADDR fills the ifreq we pass, nothing else.
    if unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFHWADDR, &mut req) } < 0 {
        return Err(failed("SIOCGIFHWADDR")(io::Error::last_os_error()));
    }
    // SAFETY: SIOCGIFHWADDR set the hwaddr member of the union.
    let hw = unsafe { req.ifr_ifru.ifru_hwaddr.sa_data };
    let mac: [u8; 6] = std::array::from_fn(|i| hw[i] as u8);

    let mut frame = Vec::with_capacity(MIN_FRAME);
    frame.extend_from_slice(&mac);
    frame.extend_from_slice(&mac);
    frame.extend_from_slice(&ETHERTYPE_EXPERIMENTAL.to_be_bytes());
    frame.extend_from_slice(b"seglab raw-socket self-check");
    frame.resize(MIN_FRAME, 0);

    // SAFETY: sockaddr_ll is plain old data; all zeroes is a valid value.
    let mut to: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    to.sll_family = libc::AF_PACKET as u16;
    to.sll_protocol = protocol;
    to.sll_ifindex = index as i32;
    to.sll_halen = 6;
    to.sll_addr[..6].copy_from_slice(&mac);
    // SAFETY: frame and the address outlive the call; lengths are theirs.
    let sent = unsafe {
        libc::sendto(
            socket.as_raw_fd(),
            frame.as_ptr().cast(),
            frame.len(),
            0,
            (&to as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if sent < 0 {
        let e = io::Error::last_os_error();
        return Err(match e.raw_os_error() {
            Some(libc::EPERM | libc::EACCES) => RawSocketError::Refused(e),
            _ => RawSocketError::Failed {
                step: "sendto",
                source: e,
            },
        });
    }
    Ok(sent as usize)
}
