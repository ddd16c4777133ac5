//! The form-encoded bodies of EC2 query requests (`Action=...&Version=...`).

/// The parameters of a form-encoded query request, decoded.
#[derive(Debug, Default)]
pub(super) struct Form(Vec<(String, String)>);

impl Form {
    pub(super) fn parse(body: &str) -> Self {
        Self(
            body.split('&')
                .filter_map(|pair| pair.split_once('='))
                .map(|(name, value)| (decode(name), decode(value)))
                .collect(),
        )
    }

    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The values of the request's filter `name` (`Filter.N.Name`,
    /// `Filter.N.Value.M`), `None` when it has none.
    pub(super) fn filter(&self, name: &str) -> Option<Vec<String>> {
        let (key, _) = self
            .0
            .iter()
            .find(|(n, v)| n.starts_with("Filter.") && n.ends_with(".Name") && v == name)?;
        let prefix = format!("{}.Value.", key.trim_end_matches(".Name"));
        Some(
            self.0
                .iter()
                .filter(|(n, _)| n.starts_with(&prefix))
                .map(|(_, v)| v.clone())
                .collect(),
        )
    }
}

/// Percent-decoding of a form value (`+` is a space).
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 2;
            }
            (b'+', _) => out.push(b' '),
            (byte, _) => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encoding of a form value: everything but unreserved characters.
pub(super) fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_form_decodes_its_values_and_filters() {
        let form = Form::parse(
            "Action=SearchTransitGatewayRoutes&TransitGatewayRouteTableId=tgw-rtb-1&Filter.1.Name=type&Filter.1.Value.1=static&Filter.1.Value.2=propagated&Filter.2.Name=route-search.exact-match&Filter.2.Value.1=192.168.100.10%2F32&Key=a+b%3A%zz",
        );
        assert_eq!(form.get("TransitGatewayRouteTableId"), Some("tgw-rtb-1"));
        assert_eq!(form.get("Key"), Some("a b:%zz"));
        assert_eq!(
            form.filter("type"),
            Some(vec!["static".to_string(), "propagated".to_string()])
        );
        assert_eq!(
            form.filter("route-search.exact-match"),
            Some(vec!["192.168.100.10/32".to_string()])
        );
        assert_eq!(form.filter("state"), None);
    }

    #[test]
    fn encoding_keeps_only_unreserved_characters() {
        assert_eq!(encode("192.168.100.10/32"), "192.168.100.10%2F32");
        assert_eq!(encode("tgw-rtb-1_a~"), "tgw-rtb-1_a~");
        assert_eq!(
            decode(&encode("vip-failover:group=web & co")),
            "vip-failover:group=web & co"
        );
    }
}
