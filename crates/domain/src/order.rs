//! Ordering: the requests a customer adds to an order's lines for the kitchen.

use std::collections::HashMap;

use crate::invalid::InvalidField;
use crate::values::ProductId;

/// One order line's request for the kitchen ("extra basil, no garlic"): up
/// to 200 characters, trimmed, line breaks allowed. Not the same rule as a
/// VIP's [`StandingRequest`](crate::vip::StandingRequest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KitchenRequest(String);

impl KitchenRequest {
    /// The longest request for one line.
    pub const MAX_CHARS: usize = 200;

    /// Reads one line's request; blank text is no request (`None`). The
    /// error names `special_requests`; the checkout names the line's key.
    /// The length and the control characters are checked on the text as
    /// sent, as the spec's `maxLength` and `pattern` state them: only line
    /// breaks are allowed, and a tab at either end is refused, not trimmed.
    pub fn parse(raw: &str) -> Result<Option<Self>, InvalidField> {
        let len = raw.chars().count();
        if len > Self::MAX_CHARS {
            return Err(InvalidField::new(
                "special_requests",
                format!("at most {} characters; got {len}", Self::MAX_CHARS),
            ));
        }
        if raw.chars().any(|c| c.is_control() && c != '\n') {
            return Err(InvalidField::new(
                "special_requests",
                "must not contain control characters other than line breaks",
            ));
        }
        let text = raw.trim();
        Ok((!text.is_empty()).then(|| KitchenRequest(text.to_owned())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Reads the checkout's `special_requests`, keyed by the dish id of a cart
/// line (`in_cart` says which ids are). Every bad entry is named, as
/// `special_requests.<key>`, in key order.
pub fn parse_kitchen_requests<'a>(
    raw: impl IntoIterator<Item = (&'a str, &'a str)>,
    in_cart: impl Fn(ProductId) -> bool,
) -> Result<HashMap<ProductId, KitchenRequest>, Vec<InvalidField>> {
    let mut entries: Vec<(&str, &str)> = raw.into_iter().collect();
    entries.sort_unstable();
    let mut errors = Vec::new();
    let mut parsed = HashMap::new();
    for (key, text) in entries {
        let field = format!("special_requests.{key}");
        let Some(id) = key
            .trim()
            .parse::<i64>()
            .ok()
            .and_then(|n| ProductId::parse(n).ok())
        else {
            errors.push(InvalidField::new(
                field,
                "keys are the dish ids of cart lines",
            ));
            continue;
        };
        if !in_cart(id) {
            errors.push(InvalidField::new(
                field,
                format!("dish {id} is not in the cart"),
            ));
            continue;
        }
        match KitchenRequest::parse(text) {
            Ok(Some(request)) => {
                parsed.insert(id, request);
            }
            Ok(None) => {}
            Err(refused) => errors.push(InvalidField { field, ..refused }),
        }
    }
    if errors.is_empty() {
        Ok(parsed)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: i64) -> ProductId {
        ProductId::parse(n).unwrap()
    }

    #[test]
    fn a_kitchen_request_is_trimmed_bounded_and_may_break_lines() {
        let r = KitchenRequest::parse("  extra basil\nno garlic ").unwrap();
        assert_eq!(r.unwrap().as_str(), "extra basil\nno garlic");
        assert_eq!(KitchenRequest::parse("   "), Ok(None));
        assert!(KitchenRequest::parse(&"x".repeat(200)).is_ok());
        assert_eq!(
            KitchenRequest::parse(&"x".repeat(201)).map_err(|e| e.message),
            Err("at most 200 characters; got 201".into())
        );
        assert!(KitchenRequest::parse("tab\there").is_err());
        assert!(KitchenRequest::parse("\tno garlic").is_err());
        assert!(KitchenRequest::parse("no garlic\r\n").is_err());
        assert_eq!(
            KitchenRequest::parse(&format!(" {} ", "x".repeat(199))).map_err(|e| e.message),
            Err("at most 200 characters; got 201".into()),
            "spaces count, as the spec's maxLength counts them"
        );
    }

    #[test]
    fn requests_are_keyed_by_dishes_in_the_cart_and_every_bad_key_is_named() {
        let in_cart = |p: ProductId| p == id(1) || p == id(2);
        let ok = parse_kitchen_requests([("1", " extra basil "), ("2", "")], in_cart).unwrap();
        assert_eq!(ok.len(), 1);
        assert_eq!(ok[&id(1)].as_str(), "extra basil");

        let errors = parse_kitchen_requests(
            [
                ("pizza", "?"),
                ("5", "x"),
                ("99999999999", "x"),
                ("1", "ok"),
            ],
            in_cart,
        )
        .unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "special_requests.5",
                "special_requests.99999999999",
                "special_requests.pizza"
            ]
        );
        assert_eq!(errors[0].message, "dish 5 is not in the cart");
        assert_eq!(errors[2].message, "keys are the dish ids of cart lines");
    }
}
