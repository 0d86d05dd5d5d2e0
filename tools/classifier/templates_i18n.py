# ruff: noqa: RUF001
"""Small template grids in other languages: frames x fillers per label.

``{x}`` in a frame takes a filler of the same language and label.
"""

from __future__ import annotations

I18N: dict[str, dict[str, tuple[list[str], list[str]]]] = {
    "es": {
        "code": (
            [
                "escribe un programa en {x}",
                "¿cómo hago {x}?",
                "ayúdame con {x}",
                "necesito código para {x}",
            ],
            [
                "Python que lea un archivo CSV",
                "JavaScript para validar un formulario",
                "una consulta SQL con JOIN",
                "un script de bash que haga copias de seguridad",
                "una función recursiva en Java",
                "arreglar un error de compilación en Rust",
                "una API REST con Flask",
                "un test unitario con pytest",
            ],
        ),
        "chat": (
            [
                "explícame {x}",
                "¿qué opinas de {x}?",
                "escribe un texto sobre {x}",
                "dame consejos sobre {x}",
            ],
            [
                "la revolución francesa",
                "cómo ahorrar dinero",
                "el cambio climático",
                "la amistad",
                "cómo aprender a cocinar",
                "la historia del cine",
                "los agujeros negros",
                "cómo funciona la fotografía",
            ],
        ),
        "tts": (
            [
                "lee en voz alta {x}",
                "convierte a voz {x}",
                "narra {x} con voz cálida",
                "haz un audio leyendo {x}",
            ],
            [
                "este texto",
                "mi artículo",
                "el siguiente poema",
                "este anuncio para la radio",
                "el capítulo uno de mi libro",
                "estas instrucciones",
            ],
        ),
        "audio": (
            [
                "transcribe {x}",
                "quita el ruido de {x}",
                "resume {x}",
                "identifica la canción en {x}",
            ],
            [
                "esta grabación",
                "el audio de la reunión",
                "mi nota de voz",
                "el archivo entrevista.mp3",
                "este podcast grabado",
                "la llamada grabada",
            ],
        ),
        "embeddings": (
            [
                "calcula los embeddings de {x}",
                "agrupa por significado {x}",
                "mide la similitud semántica entre {x}",
                "crea un índice vectorial con {x}",
            ],
            [
                "estas frases",
                "mis documentos",
                "estos títulos de productos",
                "las preguntas frecuentes",
                "estas reseñas",
            ],
        ),
        "image": (
            [
                "dibuja {x}",
                "genera una imagen de {x}",
                "crea una ilustración de {x}",
                "haz un logo con {x}",
            ],
            [
                "un perro en la playa",
                "un castillo medieval",
                "un bosque mágico",
                "una taza de café humeante",
                "un robot jugando al fútbol",
                "una ciudad bajo la lluvia",
            ],
        ),
        "other": (
            ["haz un video de {x}", "crea una animación de {x}", "genera un modelo 3D de {x}"],
            [
                "un cohete despegando",
                "mi perro corriendo",
                "una casa moderna",
                "un coche deportivo",
            ],
        ),
    },
    "fr": {
        "code": (
            [
                "écris un programme en {x}",
                "comment faire {x} ?",
                "aide-moi avec {x}",
                "corrige ce code : {x}",
            ],
            [
                "Python qui lit un fichier CSV",
                "JavaScript pour valider un formulaire",
                "une requête SQL avec jointure",
                "un script bash de sauvegarde",
                "une classe Java pour un compte bancaire",
                "un test unitaire avec Jest",
                "def f(x): return x +",
                "une API REST en Node.js",
            ],
        ),
        "chat": (
            [
                "explique-moi {x}",
                "que penses-tu de {x} ?",
                "écris un texte sur {x}",
                "donne-moi des conseils sur {x}",
            ],
            [
                "la révolution industrielle",
                "comment économiser de l'argent",
                "le réchauffement climatique",
                "l'amitié",
                "la cuisine italienne",
                "l'histoire de la photographie",
                "les trous noirs",
                "la musique baroque",
            ],
        ),
        "tts": (
            [
                "lis à voix haute {x}",
                "convertis en parole {x}",
                "fais une narration de {x}",
                "enregistre {x} avec une voix synthétique",
            ],
            [
                "ce texte",
                "mon article",
                "ce poème",
                "cette annonce",
                "le premier chapitre",
                "ces consignes",
            ],
        ),
        "audio": (
            [
                "transcris {x}",
                "supprime le bruit de {x}",
                "résume {x}",
                "quelle chanson passe dans {x} ?",
            ],
            [
                "cet enregistrement",
                "l'audio de la réunion",
                "mon mémo vocal",
                "le fichier interview.mp3",
                "ce podcast enregistré",
            ],
        ),
        "embeddings": (
            [
                "calcule les embeddings de {x}",
                "regroupe par sens {x}",
                "mesure la similarité sémantique entre {x}",
                "crée un index vectoriel pour {x}",
            ],
            ["ces phrases", "mes documents", "ces titres de produits", "ces avis clients"],
        ),
        "image": (
            [
                "dessine {x}",
                "génère une image de {x}",
                "crée une illustration de {x}",
                "fais une affiche avec {x}",
            ],
            [
                "un chien sur la plage",
                "un château médiéval",
                "une forêt enchantée",
                "un robot qui lit",
                "Paris sous la neige",
            ],
        ),
        "other": (
            ["fais une vidéo de {x}", "crée une animation de {x}", "génère un modèle 3D de {x}"],
            ["une fusée qui décolle", "mon chat qui joue", "une maison moderne", "une voiture"],
        ),
    },
    "de": {
        "code": (
            [
                "schreibe ein Programm in {x}",
                "wie mache ich {x}?",
                "hilf mir mit {x}",
                "korrigiere diesen Code: {x}",
            ],
            [
                "Python, das eine CSV-Datei liest",
                "JavaScript zur Formularvalidierung",
                "einer SQL-Abfrage mit JOIN",
                "einem Bash-Skript für Backups",
                "einer Java-Klasse für ein Bankkonto",
                "einem Unit-Test mit JUnit",
                "for i in range(10) print(i)",
                "einer REST-API in Go",
            ],
        ),
        "chat": (
            [
                "erkläre mir {x}",
                "was hältst du von {x}?",
                "schreibe einen Text über {x}",
                "gib mir Tipps zu {x}",
            ],
            [
                "die Industrielle Revolution",
                "Geld sparen",
                "den Klimawandel",
                "Freundschaft",
                "die Geschichte der Fotografie",
                "schwarze Löcher",
                "klassische Musik",
            ],
        ),
        "tts": (
            [
                "lies {x} laut vor",
                "wandle {x} in Sprache um",
                "vertone {x} mit einer warmen Stimme",
            ],
            [
                "diesen Text",
                "meinen Artikel",
                "dieses Gedicht",
                "diese Durchsage",
                "das erste Kapitel",
            ],
        ),
        "audio": (
            [
                "transkribiere {x}",
                "entferne das Rauschen aus {x}",
                "fasse {x} zusammen",
                "welches Lied läuft in {x}?",
            ],
            [
                "dieser Aufnahme",
                "der Besprechungsaufnahme",
                "meiner Sprachnachricht",
                "der Datei interview.mp3",
                "dem aufgenommenen Podcast",
            ],
        ),
        "embeddings": (
            [
                "berechne die Embeddings für {x}",
                "gruppiere {x} nach Bedeutung",
                "miss die semantische Ähnlichkeit von {x}",
                "erstelle einen Vektorindex für {x}",
            ],
            ["diese Sätze", "meine Dokumente", "diese Produkttitel", "diese Kundenbewertungen"],
        ),
        "image": (
            ["zeichne {x}", "erzeuge ein Bild von {x}", "male {x}", "gestalte ein Logo mit {x}"],
            [
                "einem Hund am Strand",
                "einer mittelalterlichen Burg",
                "einem Zauberwald",
                "einem lesenden Roboter",
                "Berlin im Schnee",
            ],
        ),
        "other": (
            [
                "mach ein Video von {x}",
                "erstelle eine Animation von {x}",
                "generiere ein 3D-Modell von {x}",
            ],
            ["einer startenden Rakete", "meinem spielenden Hund", "einem modernen Haus"],
        ),
    },
    "pt": {
        "code": (
            ["escreva um programa em {x}", "como faço {x}?", "me ajuda com {x}"],
            [
                "Python que leia um arquivo CSV",
                "JavaScript para validar um formulário",
                "uma consulta SQL com JOIN",
                "um script bash de backup",
                "um teste unitário em Java",
            ],
        ),
        "chat": (
            [
                "me explique {x}",
                "o que você acha de {x}?",
                "escreva um texto sobre {x}",
                "me dê dicas sobre {x}",
            ],
            [
                "a revolução industrial",
                "como economizar dinheiro",
                "o aquecimento global",
                "a amizade",
                "a história da música brasileira",
                "buracos negros",
            ],
        ),
        "tts": (
            ["leia em voz alta {x}", "converta em fala {x}", "narre {x} com voz calma"],
            ["este texto", "meu artigo", "este poema", "este anúncio", "o primeiro capítulo"],
        ),
        "audio": (
            ["transcreva {x}", "remova o ruído de {x}", "resuma {x}", "que música toca em {x}?"],
            [
                "esta gravação",
                "o áudio da reunião",
                "minha mensagem de voz",
                "o arquivo entrevista.mp3",
            ],
        ),
        "embeddings": (
            [
                "calcule os embeddings de {x}",
                "agrupe por significado {x}",
                "meça a similaridade semântica entre {x}",
            ],
            ["estas frases", "meus documentos", "estes títulos de produtos", "estas avaliações"],
        ),
        "image": (
            ["desenhe {x}", "gere uma imagem de {x}", "crie uma ilustração de {x}"],
            [
                "um cachorro na praia",
                "um castelo medieval",
                "uma floresta mágica",
                "um robô lendo",
                "o Rio de Janeiro à noite",
            ],
        ),
        "other": (
            ["faça um vídeo de {x}", "crie uma animação de {x}", "gere um modelo 3D de {x}"],
            ["um foguete decolando", "meu gato brincando", "uma casa moderna"],
        ),
    },
    "zh": {
        "code": (
            ["用{x}写一个程序", "怎么用{x}实现这个功能", "帮我调试{x}代码"],
            ["Python", "Java", "JavaScript", "C++", "Go", "SQL"],
        ),
        "chat": (
            ["给我讲讲{x}", "你怎么看{x}？", "写一篇关于{x}的文章", "关于{x}有什么建议？"],
            ["工业革命", "如何省钱", "气候变化", "友谊", "中国历史", "黑洞", "摄影的历史"],
        ),
        "tts": (
            ["把{x}朗读出来", "把{x}转成语音", "用温柔的声音念{x}"],
            ["这段文字", "我的文章", "这首诗", "这则通知", "第一章"],
        ),
        "audio": (
            ["把{x}转成文字", "去掉{x}里的噪音", "总结一下{x}", "识别{x}里的歌曲"],
            ["这段录音", "会议录音", "我的语音消息", "这个音频文件"],
        ),
        "embeddings": (
            ["计算{x}的向量嵌入", "按语义把{x}聚类", "计算{x}之间的语义相似度"],
            ["这些句子", "我的文档", "这些商品标题", "这些用户评论"],
        ),
        "image": (
            ["画{x}", "生成一张{x}的图片", "帮我设计{x}"],
            ["一只在海边的狗", "一座中世纪城堡", "一片魔法森林", "一个读书的机器人", "下雪的北京"],
        ),
        "other": (
            ["做一个{x}的视频", "生成{x}的动画", "生成{x}的3D模型"],
            ["火箭发射", "我的猫在玩耍", "一栋现代房子"],
        ),
    },
    "ja": {
        "code": (
            ["{x}でプログラムを書いて", "{x}のコードのバグを直して", "{x}でこの処理を実装する方法"],
            ["Python", "Java", "JavaScript", "C++", "Go", "SQL"],
        ),
        "chat": (
            [
                "{x}について説明して",
                "{x}についてどう思う？",
                "{x}についての文章を書いて",
                "{x}のアドバイスをください",
            ],
            ["産業革命", "節約の方法", "気候変動", "友情", "日本の歴史", "ブラックホール"],
        ),
        "tts": (
            ["{x}を読み上げて", "{x}を音声に変換して", "優しい声で{x}を朗読して"],
            ["この文章", "私の記事", "この詩", "このお知らせ", "第一章"],
        ),
        "audio": (
            [
                "{x}を文字起こしして",
                "{x}のノイズを消して",
                "{x}を要約して",
                "{x}で流れている曲は何？",
            ],
            ["この録音", "会議の録音", "ボイスメモ", "この音声ファイル"],
        ),
        "embeddings": (
            [
                "{x}の埋め込みを計算して",
                "{x}を意味でクラスタリングして",
                "{x}の意味的類似度を計算して",
            ],
            ["これらの文", "私の文書", "商品タイトル", "レビュー"],
        ),
        "image": (
            ["{x}の絵を描いて", "{x}の画像を生成して", "{x}のイラストを作って"],
            ["海辺の犬", "中世の城", "魔法の森", "本を読むロボット", "雪の東京"],
        ),
        "other": (
            ["{x}の動画を作って", "{x}のアニメーションを作って", "{x}の3Dモデルを作って"],
            ["ロケット打ち上げ", "遊んでいる猫", "モダンな家"],
        ),
    },
    "ru": {
        "code": (
            [
                "напиши программу на {x}",
                "как исправить ошибку в коде на {x}?",
                "помоги с кодом на {x}",
            ],
            ["Python", "Java", "JavaScript", "C++", "Go", "SQL", "Rust"],
        ),
        "chat": (
            [
                "объясни мне {x}",
                "что ты думаешь про {x}?",
                "напиши текст про {x}",
                "дай советы про {x}",
            ],
            [
                "промышленную революцию",
                "экономию денег",
                "изменение климата",
                "дружбу",
                "историю России",
                "чёрные дыры",
            ],
        ),
        "tts": (
            ["прочитай вслух {x}", "преврати в речь {x}", "озвучь {x} тёплым голосом"],
            ["этот текст", "мою статью", "это стихотворение", "это объявление", "первую главу"],
        ),
        "audio": (
            ["расшифруй {x}", "убери шум из {x}", "перескажи {x}", "какая песня играет в {x}?"],
            ["эту запись", "запись совещания", "голосовое сообщение", "аудиофайл"],
        ),
        "embeddings": (
            [
                "посчитай эмбеддинги для {x}",
                "кластеризуй по смыслу {x}",
                "оцени семантическое сходство {x}",
            ],
            ["этих предложений", "моих документов", "этих отзывов", "названий товаров"],
        ),
        "image": (
            ["нарисуй {x}", "сгенерируй изображение: {x}", "создай иллюстрацию: {x}"],
            [
                "собаку на пляже",
                "средневековый замок",
                "волшебный лес",
                "робота с книгой",
                "Москву под снегом",
            ],
        ),
        "other": (
            ["сделай видео: {x}", "создай анимацию: {x}", "сделай 3D-модель: {x}"],
            ["запуск ракеты", "играющий кот", "современный дом"],
        ),
    },
    "ar": {
        "code": (
            ["اكتب برنامجا بلغة {x}", "كيف أصلح خطأ في كود {x}؟", "ساعدني في كود {x}"],
            ["بايثون", "جافا", "جافا سكريبت", "SQL", "C++"],
        ),
        "chat": (
            ["اشرح لي {x}", "ما رأيك في {x}؟", "اكتب نصا عن {x}", "أعطني نصائح حول {x}"],
            ["الثورة الصناعية", "توفير المال", "تغير المناخ", "الصداقة", "تاريخ مصر"],
        ),
        "tts": (
            ["اقرأ {x} بصوت عالٍ", "حوّل {x} إلى كلام", "سجّل {x} بصوت هادئ"],
            ["هذا النص", "مقالي", "هذه القصيدة", "هذا الإعلان"],
        ),
        "audio": (
            ["فرّغ {x} إلى نص", "أزل الضوضاء من {x}", "لخص {x}", "ما الأغنية في {x}؟"],
            ["هذا التسجيل", "تسجيل الاجتماع", "رسالتي الصوتية", "الملف الصوتي"],
        ),
        "embeddings": (
            ["احسب التضمينات لـ {x}", "جمّع {x} حسب المعنى", "احسب التشابه الدلالي بين {x}"],
            ["هذه الجمل", "مستنداتي", "هذه المراجعات"],
        ),
        "image": (
            ["ارسم {x}", "أنشئ صورة لـ {x}", "صمم شعارا فيه {x}"],
            ["كلب على الشاطئ", "قلعة قديمة", "غابة سحرية", "روبوت يقرأ"],
        ),
        "other": (
            ["اصنع فيديو عن {x}", "أنشئ رسوما متحركة لـ {x}", "أنشئ نموذجا ثلاثي الأبعاد لـ {x}"],
            ["إطلاق صاروخ", "قطتي تلعب", "بيت حديث"],
        ),
    },
    "hi": {
        "code": (
            ["{x} में एक प्रोग्राम लिखो", "{x} कोड की गलती ठीक करो", "{x} में यह कैसे करें?"],
            ["Python", "Java", "JavaScript", "SQL", "C++"],
        ),
        "chat": (
            [
                "मुझे {x} समझाओ",
                "{x} के बारे में तुम्हारी क्या राय है?",
                "{x} पर एक लेख लिखो",
                "{x} के लिए सुझाव दो",
            ],
            ["औद्योगिक क्रांति", "पैसे बचाने", "जलवायु परिवर्तन", "दोस्ती", "भारत का इतिहास"],
        ),
        "tts": (
            ["{x} ज़ोर से पढ़ो", "{x} को आवाज़ में बदलो", "{x} को शांत आवाज़ में सुनाओ"],
            ["यह टेक्स्ट", "मेरा लेख", "यह कविता", "यह घोषणा"],
        ),
        "audio": (
            ["{x} को टेक्स्ट में लिखो", "{x} से शोर हटाओ", "{x} का सारांश दो", "{x} में कौन सा गाना है?"],
            ["इस रिकॉर्डिंग", "मीटिंग की रिकॉर्डिंग", "मेरे वॉइस नोट", "इस ऑडियो फ़ाइल"],
        ),
        "embeddings": (
            [
                "{x} के एम्बेडिंग निकालो",
                "{x} को अर्थ के हिसाब से समूहों में बाँटो",
                "{x} की सिमेंटिक समानता मापो",
            ],
            ["इन वाक्यों", "मेरे दस्तावेज़ों", "इन समीक्षाओं"],
        ),
        "image": (
            ["{x} का चित्र बनाओ", "{x} की इमेज बनाओ", "{x} का लोगो डिज़ाइन करो"],
            ["समुद्र तट पर कुत्ते", "पुराने किले", "जादुई जंगल", "किताब पढ़ते रोबोट"],
        ),
        "other": (
            ["{x} का वीडियो बनाओ", "{x} का एनिमेशन बनाओ", "{x} का 3D मॉडल बनाओ"],
            ["रॉकेट लॉन्च", "खेलती बिल्ली", "आधुनिक घर"],
        ),
    },
    "ko": {
        "code": (
            ["{x}로 프로그램을 짜 줘", "{x} 코드 오류 좀 고쳐 줘", "{x}에서 이거 어떻게 구현해?"],
            ["파이썬", "자바", "자바스크립트", "SQL", "C++"],
        ),
        "chat": (
            [
                "{x}에 대해 설명해 줘",
                "{x}에 대해 어떻게 생각해?",
                "{x}에 관한 글을 써 줘",
                "{x}에 대한 조언 좀 해 줘",
            ],
            ["산업혁명", "돈 모으는 법", "기후 변화", "우정", "한국 역사", "블랙홀"],
        ),
        "tts": (
            ["{x} 소리 내어 읽어 줘", "{x} 음성으로 바꿔 줘", "{x} 부드러운 목소리로 낭독해 줘"],
            ["이 글을", "내 기사를", "이 시를", "이 안내문을"],
        ),
        "audio": (
            [
                "{x} 받아 적어 줘",
                "{x}에서 잡음 없애 줘",
                "{x} 요약해 줘",
                "{x}에 나오는 노래가 뭐야?",
            ],
            ["이 녹음", "회의 녹음", "음성 메모", "이 오디오 파일"],
        ),
        "embeddings": (
            ["{x} 임베딩을 계산해 줘", "{x} 의미별로 군집화해 줘", "{x} 의미 유사도를 구해 줘"],
            ["이 문장들", "내 문서들", "이 리뷰들"],
        ),
        "image": (
            ["{x} 그림 그려 줘", "{x} 이미지를 생성해 줘", "{x} 로고를 디자인해 줘"],
            ["해변의 강아지", "중세 성", "마법의 숲", "책 읽는 로봇"],
        ),
        "other": (
            ["{x} 영상 만들어 줘", "{x} 애니메이션 만들어 줘", "{x} 3D 모델 만들어 줘"],
            ["로켓 발사", "노는 고양이", "현대식 집"],
        ),
    },
}
