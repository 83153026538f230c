//! Content codings a response body may be sent in, and which one a request's `Accept-Encoding`
//! prefers (RFC 9110 §12.5.3): zstd, then gzip, among those the client accepts with a non-zero
//! quality; identity when it accepts neither (or says nothing).

/// A body's coding on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContentCoding {
    Identity,
    Gzip,
    Zstd,
}

impl ContentCoding {
    /// The `Content-Encoding` value (`None` for identity, which is sent without one).
    pub fn header(self) -> Option<&'static str> {
        match self {
            ContentCoding::Identity => None,
            ContentCoding::Gzip => Some("gzip"),
            ContentCoding::Zstd => Some("zstd"),
        }
    }

    /// What the coding adds to the ETag, so each coding of a body has its own validator.
    pub fn etag_suffix(self) -> &'static str {
        match self {
            ContentCoding::Identity => "",
            ContentCoding::Gzip => "-gz",
            ContentCoding::Zstd => "-zst",
        }
    }

    /// The coding to send for an `Accept-Encoding` value: the client's highest-quality choice
    /// between zstd and gzip (zstd on a tie), `*` standing for any coding not named.
    pub fn negotiate(accept_encoding: Option<&str>) -> ContentCoding {
        let Some(header) = accept_encoding else {
            return ContentCoding::Identity;
        };
        let (mut zstd, mut gzip, mut any) = (None, None, None);
        // A bounded look: no real header has more than a handful of codings.
        for item in header.split(',').take(32) {
            let mut parts = item.split(';');
            let name = parts.next().unwrap_or("").trim();
            let mut quality = 1.0_f32;
            for param in parts {
                if let Some((key, value)) = param.split_once('=')
                    && key.trim().eq_ignore_ascii_case("q")
                {
                    quality = value.trim().parse().unwrap_or(0.0);
                }
            }
            let slot = if name.eq_ignore_ascii_case("zstd") {
                &mut zstd
            } else if name.eq_ignore_ascii_case("gzip") || name.eq_ignore_ascii_case("x-gzip") {
                &mut gzip
            } else if name == "*" {
                &mut any
            } else {
                continue;
            };
            *slot = Some(quality);
        }
        let zstd = zstd.or(any).unwrap_or(0.0);
        let gzip = gzip.or(any).unwrap_or(0.0);
        if zstd > 0.0 && zstd >= gzip {
            ContentCoding::Zstd
        } else if gzip > 0.0 {
            ContentCoding::Gzip
        } else {
            ContentCoding::Identity
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ContentCoding::{self, *};

    #[test]
    fn prefers_zstd_then_gzip_by_the_clients_qualities() {
        let n = |h: &str| ContentCoding::negotiate(Some(h));
        assert_eq!(ContentCoding::negotiate(None), Identity);
        assert_eq!(n(""), Identity);
        assert_eq!(n("gzip"), Gzip);
        assert_eq!(n("gzip, deflate, br, zstd"), Zstd);
        assert_eq!(n("GZIP"), Gzip);
        assert_eq!(n("x-gzip"), Gzip);
        assert_eq!(n("br"), Identity);
        assert_eq!(n("gzip;q=0"), Identity);
        assert_eq!(n("zstd;q=0, gzip"), Gzip);
        assert_eq!(n("zstd;q=0.5, gzip;q=0.8"), Gzip);
        assert_eq!(n("*"), Zstd);
        assert_eq!(n("*;q=0"), Identity);
        assert_eq!(n("*, zstd;q=0"), Gzip);
        assert_eq!(n("identity"), Identity);
        assert_eq!(n("gzip;q=nonsense"), Identity);
    }
}
