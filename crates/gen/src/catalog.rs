//! The fixed catalogue the generator draws from: the app's account and IDs, prefectures and
//! cities, products, search words, email subjects, app versions and device models.

pub(crate) const APP_ID: &str = "3c8d5f0e9a2b4e71b6d04f2a1c9e8b57";
pub(crate) const ACCOUNT_ID: &str = "123456789012";
pub(crate) const REGION: &str = "ap-northeast-1";
pub(crate) const IDENTITY_POOL: &str = "ap-northeast-1:6b1f0c2e-4d7a-4e8b-9c3f-2a5d8e7b1c40";
pub(crate) const MAIL_FROM: &str = "info@shop.example.jp";

/// (make, model, platform, platform version) of a device.
pub(crate) type Device = (&'static str, &'static str, &'static str, &'static str);

/// Japanese prefectures other than 兵庫県 (which is assigned to exactly 15% of users), with the
/// city reported in `Location.City` and a relative weight.
pub(crate) const PREFECTURES: &[(&str, &str, f64)] = &[
    ("東京都", "Tokyo", 0.27),
    ("大阪府", "Osaka", 0.16),
    ("神奈川県", "Yokohama", 0.12),
    ("愛知県", "Nagoya", 0.08),
    ("福岡県", "Fukuoka", 0.07),
    ("京都府", "Kyoto", 0.05),
    ("北海道", "Sapporo", 0.04),
    ("埼玉県", "Saitama", 0.03),
    ("千葉県", "Chiba", 0.03),
    ("広島県", "Hiroshima", 0.03),
    ("宮城県", "Sendai", 0.02),
];
pub(crate) const HYOGO: (&str, &str) = ("兵庫県", "Kobe");

/// (product id, category, price in JPY).
pub(crate) type Product = (&'static str, &'static str, i64);

/// The shop's products.
pub(crate) const PRODUCTS: &[Product] = &[
    ("sku-1001", "シューズ", 8_900),
    ("sku-1002", "シューズ", 12_800),
    ("sku-2001", "アウター", 19_800),
    ("sku-2002", "アウター", 29_800),
    ("sku-3001", "トップス", 2_990),
    ("sku-3002", "トップス", 4_990),
    ("sku-4001", "バッグ", 15_800),
    ("sku-5001", "雑貨", 300),
    ("sku-5002", "雑貨", 980),
    ("sku-6001", "コスメ", 1_650),
    ("sku-6002", "コスメ", 3_300),
    ("sku-7001", "食品", 540),
];
pub(crate) const SEARCHES: &[&str] = &[
    "スニーカー",
    "ダウンジャケット",
    "トートバッグ",
    "リップ",
    "ギフト",
    "セール",
];
pub(crate) const SUBJECTS: &[&str] = &[
    "【期間限定】冬のセール開催中",
    "ポイント2倍キャンペーンのお知らせ",
    "新作アイテム入荷しました",
    "お気に入りの商品が値下がりしました",
    "会員限定クーポンをお届けします",
    "カートに商品が残っています",
];
pub(crate) const APP_VERSIONS: &[&str] = &["2.14.0", "2.15.1", "2.16.0"];

/// (make, model, platform, platform version) per device family.
pub(crate) const IOS_DEVICES: &[Device] = &[
    ("Apple", "iPhone15,2", "iOS", "17.5.1"),
    ("Apple", "iPhone16,1", "iOS", "18.1"),
    ("Apple", "iPhone14,5", "iOS", "16.7.8"),
];
pub(crate) const ANDROID_DEVICES: &[Device] = &[
    ("Google", "Pixel 8", "Android", "14"),
    ("samsung", "SC-51D", "Android", "14"),
    ("SHARP", "SH-53D", "Android", "13"),
    ("Sony", "SO-51D", "Android", "13"),
];
/// Web app users look like the seed's Amplify JavaScript client.
pub(crate) const WEB_DEVICES: &[Device] = &[
    ("Gecko", "Chrome", "macintel", "131.0.6778.86"),
    ("Gecko", "Chrome", "win32", "131.0.6778.86"),
    ("Gecko", "Safari", "iphone", "18.1"),
];
