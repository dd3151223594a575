//! `wire_enum!`: a C-like enum that is one byte in MessagePack and a lowercase word in
//! JSON, so the same type serves the compact client wire and readable HTTP bodies.
//! Decoding accepts either form; an unknown number or word is a decode error, not a panic.

macro_rules! wire_enum {
    (
        $(#[$doc:meta])*
        pub enum $name:ident {
            $( $(#[$vdoc:meta])* $variant:ident = $num:literal => $word:literal, )+
        }
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum $name {
            $( $(#[$vdoc])* $variant = $num, )+
        }

        impl $name {
            /// Every variant, in number order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The one-byte wire number.
            pub const fn number(self) -> u8 {
                self as u8
            }

            /// The variant with this wire number.
            pub fn from_number(n: u8) -> Option<Self> {
                match n {
                    $( $num => Some(Self::$variant), )+
                    _ => None,
                }
            }

            /// The lowercase word used in JSON.
            pub const fn word(self) -> &'static str {
                match self {
                    $( Self::$variant => $word, )+
                }
            }

            /// The variant with this JSON word.
            pub fn from_word(w: &str) -> Option<Self> {
                match w {
                    $( $word => Some(Self::$variant), )+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.word())
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                crate::openapi::string_schema(
                    concat!("One of: ", $($word, " "),+),
                    Some(vec![$($word),+]),
                )
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $name {
            fn name() -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed(stringify!($name))
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                if s.is_human_readable() {
                    s.serialize_str(self.word())
                } else {
                    s.serialize_u8(self.number())
                }
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl serde::de::Visitor<'_> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str(concat!("one of ", $("`", $word, "` "),+))
                    }
                    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<$name, E> {
                        u8::try_from(v)
                            .ok()
                            .and_then($name::from_number)
                            .ok_or_else(|| E::invalid_value(serde::de::Unexpected::Unsigned(v), &self))
                    }
                    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<$name, E> {
                        u64::try_from(v)
                            .map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(v), &self))
                            .and_then(|v| self.visit_u64(v))
                    }
                    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<$name, E> {
                        $name::from_word(v)
                            .ok_or_else(|| E::invalid_value(serde::de::Unexpected::Str(v), &self))
                    }
                }
                d.deserialize_any(V)
            }
        }
    };
}

pub(crate) use wire_enum;
