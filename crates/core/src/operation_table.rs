//! `operation_table!`: declares an AWS API's operations once — the enum, `ALL`, each one's
//! name (its wire name, and its IAM action after the service prefix), a sample input, and
//! the lookup by name — so the router, the authorisation and the walk-every-route test
//! read one list.

macro_rules! operation_table {
    (
        $(#[$meta:meta])*
        $operation_enum:ident, $service:literal, $sample_doc:literal:
        $($operation:ident => $sample:literal,)*
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $operation_enum {
            $($operation,)*
        }

        impl $operation_enum {
            pub const ALL: &[Self] = &[$(Self::$operation,)*];

            /// The operation's wire name.
            pub fn name(self) -> &'static str {
                match self {
                    $(Self::$operation => stringify!($operation),)*
                }
            }

            #[doc = $sample_doc]
            pub fn sample(self) -> &'static str {
                match self {
                    $(Self::$operation => $sample,)*
                }
            }

            /// The operation a wire name names, if Berth answers it.
            pub fn from_name(name: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|op| op.name() == name)
            }

            /// The IAM action the operation is authorised as.
            pub fn action(self) -> String {
                format!("{}:{}", $service, self.name())
            }
        }
    };
}
